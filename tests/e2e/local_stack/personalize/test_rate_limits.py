"""The local Personalize's rate quotas, scaled down: GetRecommendations and GetPersonalizedRanking per
campaign (and recommender) and per account, PutEvents per dataset group; above one, ThrottlingException as
the AWS protocols answer it, through unmodified boto3 clients and on the wire."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_stack.personalize import PersonalizeService
from local_stack.rate_limits import Rate
from tests.e2e.local_stack.personalize.shop import (
    ACCOUNT,
    CAMPAIGN,
    FILTERS,
    ITEMS,
    RECOMMENDER,
    TRACKING_ID,
    boto,
    buy,
    error_of,
    event,
    make_service,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

OTHER_CAMPAIGN = f"{ACCOUNT}:campaign/other"
RANKING = f"{ACCOUNT}:campaign/ranking"
OTHER_TRACKER = "tracking-2"
#: A burst of 3 and one a second on each operation; the account's inference at 100 (out of the way).
SCALED = {
    "GetRecommendations": Rate(1, burst=3),
    "GetPersonalizedRanking": Rate(1, burst=3),
    "PutEvents": Rate(1, burst=3),
    "inference": Rate(100),
}


@pytest.fixture
def limited() -> Iterator[PersonalizeService]:
    with PersonalizeService(
        tracking_ids=[TRACKING_ID, OTHER_TRACKER],
        campaigns=[CAMPAIGN, OTHER_CAMPAIGN, RANKING],
        recommenders=[RECOMMENDER],
        filters=FILTERS,
        items=ITEMS,
        rate_limits=SCALED,
    ) as service:
        yield service


def outcomes(call: Callable[[], Any], times: int) -> list[str]:
    """'ok' or 'throttled' (ThrottlingException, HTTP 400; any other error fails the test) for each call."""
    return [_outcome(call) for _ in range(times)]


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        code = error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
        assert code == ("ThrottlingException", 400), code
        return "throttled"
    return "ok"


def test_over_the_campaign_limit_boto3_sees_a_throttling_exception(limited: PersonalizeService) -> None:
    runtime = boto("personalize-runtime", limited.url)
    recommend = lambda: runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u1")  # noqa: E731
    for _ in range(3):
        assert recommend()["itemList"]
    assert error_of(recommend) == ("ThrottlingException", 400)
    # the request log keeps it, as every answer
    last = limited.query("SELECT status, error_code, error_message FROM requests ORDER BY id DESC LIMIT 1")
    assert last == [{"status": 400, "error_code": "ThrottlingException", "error_message": "Rate exceeded"}]


def test_the_throttling_answer_on_the_wire(limited: PersonalizeService) -> None:
    limited.limiter.configure({"PutEvents": Rate(1, burst=1)})
    body = json.dumps({"trackingId": TRACKING_ID, "sessionId": "s", "eventList": [event("hat")]}).encode()

    def post() -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{limited.url}/events", data=body, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    assert post()[0] == 200
    status, headers, payload = post()
    # HTTP 400 (Common Errors: "ThrottlingException ... HTTP Status Code: 400"), the name in the header and as
    # __type in the body, message "Rate exceeded"
    assert status == 400
    assert headers["X-Amzn-ErrorType"] == "ThrottlingException"
    assert json.loads(payload) == {"__type": "ThrottlingException", "message": "Rate exceeded"}
    assert headers["x-amzn-RequestId"]
    assert limited.query("SELECT count(*) AS n FROM events") == [{"n": 1}]


def test_the_limit_is_per_campaign_and_a_recommender_has_its_own(limited: PersonalizeService) -> None:
    runtime = boto("personalize-runtime", limited.url)
    for arn in (CAMPAIGN, OTHER_CAMPAIGN):
        recommend = lambda a=arn: runtime.get_recommendations(campaignArn=a, userId="u1")  # noqa: E731
        assert outcomes(recommend, 4) == ["ok", "ok", "ok", "throttled"]
    by_recommender = lambda: runtime.get_recommendations(recommenderArn=RECOMMENDER, userId="u1")  # noqa: E731
    assert outcomes(by_recommender, 4) == ["ok", "ok", "ok", "throttled"]
    ranking = lambda: runtime.get_personalized_ranking(campaignArn=RANKING, userId="u1", inputList=["hat"])  # noqa: E731
    assert outcomes(ranking, 4) == ["ok", "ok", "ok", "throttled"]
    assert limited.limiter.refused() == {
        "GetPersonalizedRanking": {RANKING: 1},
        "GetRecommendations": {CAMPAIGN: 1, OTHER_CAMPAIGN: 1, RECOMMENDER: 1},
    }


def test_put_events_is_limited_per_dataset_group(limited: PersonalizeService) -> None:
    events = boto("personalize-events", limited.url)
    for tracker in (TRACKING_ID, OTHER_TRACKER):
        send = lambda t=tracker: events.put_events(trackingId=t, sessionId="s", eventList=[event("hat")])  # noqa: E731
        assert outcomes(send, 4) == ["ok", "ok", "ok", "throttled"]
    # a refused call stored nothing
    assert limited.query("SELECT count(*) AS n FROM events") == [{"n": 6}]
    time.sleep(1.1)  # one token a second
    assert outcomes(lambda: buy(events, "u1", "hat"), 2) == ["ok", "throttled"]


def test_the_account_inference_rate_counts_every_campaign(limited: PersonalizeService) -> None:
    limited.limiter.configure({"inference": Rate(1, burst=4)})
    runtime = boto("personalize-runtime", limited.url)
    first = [runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u1") for _ in range(2)]
    assert len(first) == 2
    ranking = lambda: runtime.get_personalized_ranking(campaignArn=RANKING, userId="u1", inputList=["hat"])  # noqa: E731
    # two more fit the account's 4; the fifth is over it although its campaign's bucket is not empty
    assert outcomes(ranking, 3) == ["ok", "ok", "throttled"]
    assert limited.limiter.refused() == {"inference": {"account": 1}}


def test_throttling_comes_before_an_injected_fault_and_the_operation(limited: PersonalizeService) -> None:
    limited.limiter.configure({"GetRecommendations": Rate(1, burst=1)})
    runtime = boto("personalize-runtime", limited.url)
    runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u1")
    limited.faults.add(target="GetRecommendations", error="InternalServerError")
    assert error_of(lambda: runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u1")) == (
        "ThrottlingException",
        400,
    )
    assert len(limited.faults.pending()) == 1  # the throttled call never reached the fault


def test_below_the_limits_nothing_changes() -> None:
    # the real quotas (500/s per campaign, 1,000/s PutEvents): a burst of 100 of each is answered as if
    # there were none
    with make_service() as service:
        runtime = boto("personalize-runtime", service.url)
        events = boto("personalize-events", service.url)
        for i in range(100):
            events.put_events(trackingId=TRACKING_ID, sessionId="s", eventList=[event("hat", ts=1e9 + i)])
            runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u1")
        assert service.limiter.refused() == {}
        assert service.query("SELECT count(*) AS n FROM requests WHERE status != 200") == [{"n": 0}]


def test_the_admin_path_turns_a_limit_off(limited: PersonalizeService) -> None:
    off = json.dumps({"GetRecommendations": None}).encode()
    request = urllib.request.Request(f"{limited.url}/_local/limits", data=off, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
        assert json.loads(answer.read())["limits"]["GetRecommendations"] is None
    runtime = boto("personalize-runtime", limited.url)
    assert outcomes(lambda: runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u1"), 10) == ["ok"] * 10
