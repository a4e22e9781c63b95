"""The local Personalize through unmodified boto3 clients over loopback HTTP."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from local_stack.faults import inject_fault
from local_stack.personalize import PersonalizeService

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

ACCOUNT = "arn:aws:personalize:us-east-1:123456789012"
TRACKING_ID = "tracking-1"
CAMPAIGN = f"{ACCOUNT}:campaign/user-personalization"
RECOMMENDER = f"{ACCOUNT}:recommender/top-picks"
ITEMS_DATASET = f"{ACCOUNT}:dataset/shop/ITEMS"
USERS_DATASET = f"{ACCOUNT}:dataset/shop/USERS"
BY_CATEGORY = f"{ACCOUNT}:filter/by-category"
NOT_CHEAP = f"{ACCOUNT}:filter/not-cheap"
NOT_PURCHASED = f"{ACCOUNT}:filter/not-purchased"
BROKEN = f"{ACCOUNT}:filter/broken"
FILTERS = {
    BY_CATEGORY: "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)",
    NOT_CHEAP: 'EXCLUDE ItemID WHERE Items.CATEGORY IN ("sale", "clearance")',
    NOT_PURCHASED: 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Order Completed")',
    BROKEN: 'INCLUDE ItemID WHERE Items.CATEGORY LIKE "shoe%"',
}
ITEMS: dict[str, dict[str, object]] = {
    "boots": {"CATEGORY": "shoes", "PRICE": 89.5},
    "laces": {"CATEGORY": "shoes", "PRICE": 3},
    "sandals": {"CATEGORY": "shoes|sale", "PRICE": 19.99},
    "tote": {"CATEGORY": "bags", "PRICE": 45},
    "wallet": {"CATEGORY": "bags|clearance", "PRICE": 25},
    "hat": {"CATEGORY": "hats", "PRICE": 15},
}
T0 = 1_700_000_000.0


def make_service(db_path: Path | None = None) -> PersonalizeService:
    return PersonalizeService(
        db_path,
        tracking_ids=[TRACKING_ID],
        campaigns=[CAMPAIGN],
        recommenders=[RECOMMENDER],
        filters=FILTERS,
        items=ITEMS,
        datasets=[ITEMS_DATASET, USERS_DATASET],
    )


@pytest.fixture
def service() -> Iterator[PersonalizeService]:
    with make_service() as running:
        yield running


def boto(service_name: str, url: str, **config: Any) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service_name,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


@pytest.fixture
def events(service: PersonalizeService) -> Any:
    return boto("personalize-events", service.url)


@pytest.fixture
def runtime(service: PersonalizeService) -> Any:
    return boto("personalize-runtime", service.url)


def event(item_id: str, event_type: str = "Order Completed", ts: float = T0, **extra: Any) -> dict[str, Any]:
    return {"eventType": event_type, "itemId": item_id, "sentAt": ts, **extra}


def buy(events: Any, user: str, *items: str, session: str | None = None) -> None:
    events.put_events(
        trackingId=TRACKING_ID,
        userId=user,
        sessionId=session or f"session-{user}",
        eventList=[event(item, ts=T0 + i) for i, item in enumerate(items)],
    )


def item_ids(answer: dict[str, Any], key: str = "itemList") -> list[str]:
    return [entry["itemId"] for entry in answer[key]]


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# --- happy paths ---------------------------------------------------------------------------------------
def test_learns_co_purchases_from_put_events_and_recommends(
    service: PersonalizeService, events: Any, runtime: Any
) -> None:
    # given shoppers who bought boots with laces, and more shoppers of hats
    for n in range(3):
        buy(events, f"boot-buyer-{n}", "boots", "laces")
    for n in range(5):
        buy(events, f"hat-buyer-{n}", "hat")
    # when a new shopper buys boots
    buy(events, "me", "boots")
    answer = runtime.get_recommendations(campaignArn=CAMPAIGN, userId="me", numResults=3)
    # then laces come first, boots never, scores sum to 1, and the id fits PutEvents' recommendationId
    assert item_ids(answer)[0] == "laces"
    assert "boots" not in item_ids(answer)
    assert len(answer["itemList"]) == 3
    assert sum(entry["score"] for entry in answer["itemList"]) == pytest.approx(1.0)
    assert answer["recommendationId"].startswith("RID-")
    assert len(answer["recommendationId"]) <= 40
    # a cold user gets the most popular items (hat: five orders)
    cold = runtime.get_recommendations(recommenderArn=RECOMMENDER, userId="stranger", numResults=1)
    assert item_ids(cold) == ["hat"]
    # and everything is in SQLite
    stored = service.query("SELECT user_id, item_id, event_type, sent_at FROM events WHERE user_id = 'me'")
    assert stored == [{"user_id": "me", "item_id": "boots", "event_type": "Order Completed", "sent_at": T0}]
    served = service.query("SELECT recommendation_id, user_id, item_list FROM recommendations")
    assert [row["user_id"] for row in served] == ["me", "stranger"]
    assert json.loads(served[0]["item_list"]) == answer["itemList"]


def test_put_events_stores_every_field_and_the_raw_request(service: PersonalizeService, events: Any) -> None:
    events.put_events(
        trackingId=TRACKING_ID,
        userId="u1",
        sessionId="anon-1",
        eventList=[
            {
                "eventId": "m1-0",
                "eventType": "Order Completed",
                "eventValue": 19.99,
                "itemId": "boots",
                "sentAt": 1700000000.123,
                "properties": json.dumps({"discount": "10"}),
                "recommendationId": "RID-1",
                "impression": ["boots", "laces"],
                "metricAttribution": {"eventAttributionSource": "email"},
            }
        ],
    )
    (row,) = service.query("SELECT * FROM events")
    assert row["event_id"] == "m1-0"
    assert row["session_id"] == "anon-1"
    assert row["event_value"] == 19.99
    assert row["sent_at"] == pytest.approx(1700000000.123)
    assert json.loads(row["properties"]) == {"discount": "10"}
    assert json.loads(row["impression"]) == ["boots", "laces"]
    assert row["recommendation_id"] == "RID-1"
    assert row["metric_attribution_source"] == "email"
    (request,) = service.query("SELECT * FROM requests WHERE id = ?", [row["request_id"]])
    assert request["operation"] == "PutEvents"
    assert request["status"] == 200
    assert json.loads(request["body"])["eventList"][0]["eventId"] == "m1-0"


def test_clients_find_the_service_through_the_standard_environment_variables(
    service: PersonalizeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in service.endpoint_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    boto3.client("personalize-events").put_events(
        trackingId=TRACKING_ID, userId="env-user", sessionId="s", eventList=[event("tote")]
    )
    answer = boto3.client("personalize-runtime").get_recommendations(campaignArn=CAMPAIGN, userId="env-user")
    assert "tote" not in item_ids(answer)
    assert len(answer["itemList"]) == len(ITEMS) - 1  # every other catalog item, default numResults 25


def test_sessions_then_linking_to_the_user(service: PersonalizeService, events: Any, runtime: Any) -> None:
    for n in range(2):
        buy(events, f"buyer-{n}", "tote", "wallet")
    # given an anonymous visitor who viewed the tote (sessionId only)
    events.put_events(trackingId=TRACKING_ID, sessionId="anon-9", eventList=[event("tote", "Product Viewed")])
    # then recommendations for the session work and know the tote
    anonymous = runtime.get_recommendations(campaignArn=CAMPAIGN, userId="anon-9", numResults=2)
    assert item_ids(anonymous)[0] == "wallet"
    assert "tote" not in item_ids(anonymous)
    # when the visitor signs in, the session's history becomes the user's
    events.put_events(
        trackingId=TRACKING_ID, userId="jane", sessionId="anon-9", eventList=[event("hat", "Product Viewed")]
    )
    known = runtime.get_recommendations(campaignArn=CAMPAIGN, userId="jane", numResults=10)
    assert "tote" not in item_ids(known)
    assert "hat" not in item_ids(known)
    assert item_ids(known)[0] == "wallet"


def test_put_items_adds_to_the_catalog_and_metadata_comes_back_in_lower_case(
    service: PersonalizeService, events: Any, runtime: Any
) -> None:
    events.put_items(
        datasetArn=ITEMS_DATASET,
        items=[
            {
                "itemId": "scarf",
                "properties": json.dumps({"category": "hats", "price": 12.5, "inStock": True}),
            }
        ],
    )
    events.put_users(datasetArn=USERS_DATASET, users=[{"userId": "u1", "properties": '{"tier": "gold"}'}])
    answer = runtime.get_recommendations(
        campaignArn=CAMPAIGN,
        userId="u1",
        numResults=10,
        metadataColumns={"ITEMS": ["CATEGORY", "PRICE", "IN_STOCK"]},
    )
    by_id = {entry["itemId"]: entry for entry in answer["itemList"]}
    assert by_id["scarf"]["metadata"] == {"category": "hats", "price": "12.5", "in_stock": "true"}
    assert by_id["sandals"]["metadata"] == {"category": "shoes|sale", "price": "19.99"}
    assert service.item("scarf") == {"CATEGORY": "hats", "PRICE": 12.5, "IN_STOCK": True}
    assert service.query("SELECT user_id, properties FROM users") == [
        {"user_id": "u1", "properties": '{"tier": "gold"}'}
    ]
    plain = runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u1", numResults=2)
    assert all("metadata" not in entry for entry in plain["itemList"])


def test_filters_with_filter_values(events: Any, runtime: Any) -> None:
    buy(events, "me", "boots")

    def recommend(**kwargs: Any) -> list[str]:
        return item_ids(
            runtime.get_recommendations(campaignArn=CAMPAIGN, userId="me", numResults=25, **kwargs)
        )

    assert sorted(recommend(filterArn=BY_CATEGORY, filterValues={"CATEGORY": '"bags"'})) == ["tote", "wallet"]
    assert sorted(recommend(filterArn=BY_CATEGORY, filterValues={"CATEGORY": '"bags","hats"'})) == [
        "hat",
        "tote",
        "wallet",
    ]
    assert sorted(recommend(filterArn=NOT_CHEAP)) == ["hat", "laces", "tote"]


def test_interaction_filter_and_personalized_ranking(events: Any, runtime: Any) -> None:
    buy(events, "me", "boots")
    events.put_events(
        trackingId=TRACKING_ID, userId="me", sessionId="s", eventList=[event("tote", "Product Viewed")]
    )
    everything = ["boots", "tote", "hat", "not-in-catalog"]
    ranked = runtime.get_personalized_ranking(campaignArn=CAMPAIGN, userId="me", inputList=everything)
    assert sorted(item_ids(ranked, "personalizedRanking")) == sorted(everything)
    assert item_ids(ranked, "personalizedRanking")[-1] == "not-in-catalog"
    filtered = runtime.get_personalized_ranking(
        campaignArn=CAMPAIGN, userId="me", inputList=everything, filterArn=NOT_PURCHASED
    )
    assert "boots" not in item_ids(filtered, "personalizedRanking")  # ordered: filtered out
    assert "tote" in item_ids(filtered, "personalizedRanking")  # only viewed: kept
    related = runtime.get_recommendations(
        campaignArn=CAMPAIGN, itemId="tote", userId="me", filterArn=NOT_PURCHASED
    )
    assert "boots" not in item_ids(related)
    assert "tote" not in item_ids(related)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "personalize.sqlite"
    with make_service(db) as first:
        client = boto("personalize-events", first.url)
        for n in range(2):
            buy(client, f"buyer-{n}", "tote", "wallet")
        buy(client, "me", "tote")
        client.put_items(
            datasetArn=ITEMS_DATASET, items=[{"itemId": "belt", "properties": '{"CATEGORY": "x"}'}]
        )
        before = boto("personalize-runtime", first.url).get_recommendations(campaignArn=CAMPAIGN, userId="me")
    with make_service(db) as second:
        after = boto("personalize-runtime", second.url).get_recommendations(campaignArn=CAMPAIGN, userId="me")
        assert second.item("belt") == {"CATEGORY": "x"}
        assert len(second.query("SELECT id FROM events")) == 5
    assert item_ids(after) == item_ids(before)
    assert item_ids(after)[0] == "wallet"


def test_concurrent_put_events_are_all_stored(service: PersonalizeService) -> None:
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            client = boto("personalize-events", service.url)
            buy(client, f"user-{n}", "hat", "tote")
            for _ in range(4):
                buy(client, f"user-{n}", "laces")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert service.query("SELECT count(*) AS n FROM events") == [{"n": 8 * (2 + 4)}]


# --- errors --------------------------------------------------------------------------------------------
LONG = "x" * 257


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"eventList": [event("boots")] * 11}, "InvalidInputException"),
        ({"eventList": [event("boots", eventId=LONG)]}, "InvalidInputException"),
        ({"eventList": [event(LONG)]}, "InvalidInputException"),
        ({"eventList": [event("boots", event_type=LONG)]}, "InvalidInputException"),
        ({"userId": LONG}, "InvalidInputException"),
        ({"sessionId": LONG}, "InvalidInputException"),
        ({"eventList": [event("boots", impression=["a"] * 26)]}, "InvalidInputException"),
        ({"eventList": [event("boots", recommendationId="R" * 41)]}, "InvalidInputException"),
        ({"eventList": [event("boots", properties=json.dumps({"k": "v" * 1020}))]}, "InvalidInputException"),
        ({"eventList": [event("boots", properties="not json")]}, "InvalidInputException"),
        ({"trackingId": "no-such-tracker"}, "ResourceNotFoundException"),
    ],
    ids=[
        "11-events",
        "long-eventId",
        "long-itemId",
        "long-eventType",
        "long-userId",
        "long-sessionId",
        "26-impressions",
        "long-recommendationId",
        "long-properties",
        "properties-not-json",
        "unknown-tracker",
    ],
)
def test_put_events_rejects_what_the_real_api_rejects(
    events: Any, kwargs: dict[str, Any], expected: str
) -> None:
    request = {
        "trackingId": TRACKING_ID,
        "userId": "u",
        "sessionId": "s",
        "eventList": [event("boots")],
        **kwargs,
    }
    code, status = error_of(lambda: events.put_events(**request))
    assert code == expected
    assert status == (404 if expected == "ResourceNotFoundException" else 400)


@pytest.mark.parametrize(
    "request_body",
    [
        {"trackingId": TRACKING_ID, "sessionId": "s", "eventList": []},
        {"trackingId": TRACKING_ID, "eventList": [event("boots")]},
        {"sessionId": "s", "eventList": [event("boots")]},
        {"trackingId": TRACKING_ID, "sessionId": "s", "eventList": [{"eventType": "x"}]},
        {"trackingId": TRACKING_ID, "sessionId": "s", "eventList": [{"sentAt": T0}]},
        {"trackingId": TRACKING_ID, "sessionId": "s", "eventList": [event("")]},
    ],
    ids=["no-events", "no-sessionId", "no-trackingId", "no-sentAt", "no-eventType", "empty-itemId"],
)
def test_requests_that_boto3_would_refuse_are_refused_by_the_server_too(
    service: PersonalizeService, request_body: dict[str, Any]
) -> None:
    unchecked = boto("personalize-events", service.url, parameter_validation=False)
    code, status = error_of(lambda: unchecked.put_events(**request_body))
    assert (code, status) == ("InvalidInputException", 400)


def test_error_message_names_each_violation(events: Any) -> None:
    with pytest.raises(ClientError) as raised:
        events.put_events(trackingId=TRACKING_ID, sessionId=LONG, eventList=[event("boots", eventId=LONG)])
    message = raised.value.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected:")
    assert "'sessionId'" in message
    assert "'eventList.1.member.eventId'" in message


@pytest.mark.parametrize("operation", ["get_recommendations", "get_personalized_ranking"])
def test_each_field_is_checked_once(runtime: Any, operation: str) -> None:
    request: dict[str, Any] = {"campaignArn": CAMPAIGN, "userId": LONG}
    if operation == "get_personalized_ranking":
        request["inputList"] = ["boots"]
    with pytest.raises(ClientError) as raised:
        getattr(runtime, operation)(**request)
    message = raised.value.response["Error"]["Message"]
    assert message.startswith("1 validation error detected:")
    assert message.count("'userId'") == 1


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"numResults": 0}, "InvalidInputException"),
        ({"numResults": 501}, "InvalidInputException"),
        ({"numResults": 51, "metadataColumns": {"ITEMS": ["CATEGORY"]}}, "InvalidInputException"),
        (
            {"filterArn": BY_CATEGORY, "filterValues": {f"K{i}": '"a"' for i in range(26)}},
            "InvalidInputException",
        ),
        ({"filterArn": BY_CATEGORY}, "InvalidInputException"),  # INCLUDE needs $CATEGORY
        ({"filterArn": BROKEN}, "InvalidInputException"),
        ({"recommenderArn": RECOMMENDER}, "InvalidInputException"),  # both
        ({"campaignArn": None}, "InvalidInputException"),  # neither
        ({"userId": None}, "InvalidInputException"),
        ({"campaignArn": f"{ACCOUNT}:campaign/nope"}, "ResourceNotFoundException"),
        ({"campaignArn": None, "recommenderArn": f"{ACCOUNT}:recommender/nope"}, "ResourceNotFoundException"),
        ({"filterArn": f"{ACCOUNT}:filter/nope"}, "ResourceNotFoundException"),
    ],
    ids=[
        "numResults-0",
        "numResults-501",
        "metadata-over-50",
        "26-filterValues",
        "missing-include-value",
        "bad-filter-syntax",
        "both-arns",
        "no-arn",
        "no-userId",
        "unknown-campaign",
        "unknown-recommender",
        "unknown-filter",
    ],
)
def test_get_recommendations_rejects_what_the_real_api_rejects(
    runtime: Any, kwargs: dict[str, Any], expected: str
) -> None:
    request = {"campaignArn": CAMPAIGN, "userId": "u", **kwargs}
    request = {key: value for key, value in request.items() if value is not None}
    code, status = error_of(lambda: runtime.get_recommendations(**request))
    assert code == expected
    assert status == (404 if expected == "ResourceNotFoundException" else 400)


def test_bad_filter_syntax_message_says_what_is_wrong(runtime: Any) -> None:
    with pytest.raises(ClientError) as raised:
        runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u", filterArn=BROKEN)
    assert "LIKE" in raised.value.response["Error"]["Message"]


def test_put_items_and_put_users_errors(events: Any) -> None:
    eleven = [{"itemId": f"i{n}"} for n in range(11)]
    assert (
        error_of(lambda: events.put_items(datasetArn=ITEMS_DATASET, items=eleven))[0]
        == "InvalidInputException"
    )
    not_json = [{"itemId": "i", "properties": "{"}]
    assert (
        error_of(lambda: events.put_items(datasetArn=ITEMS_DATASET, items=not_json))[0]
        == "InvalidInputException"
    )
    users = [{"userId": "u"}]
    assert (
        error_of(lambda: events.put_users(datasetArn=ITEMS_DATASET, users=users))[0]
        == "InvalidInputException"
    )
    assert (
        error_of(lambda: events.put_users(datasetArn="not-an-arn", users=users))[0] == "InvalidInputException"
    )
    unknown = f"{ACCOUNT}:dataset/other/ITEMS"
    assert error_of(lambda: events.put_items(datasetArn=unknown, items=[{"itemId": "i"}])) == (
        "ResourceNotFoundException",
        404,
    )


# --- faults --------------------------------------------------------------------------------------------
def test_throttled_twice_then_ok(service: PersonalizeService, events: Any) -> None:
    service.faults.add(target="PutEvents", error="ThrottlingException", count=2)
    send = lambda: events.put_events(trackingId=TRACKING_ID, sessionId="s", eventList=[event("hat")])  # noqa: E731
    assert error_of(send) == ("ThrottlingException", 400)
    assert error_of(send) == ("ThrottlingException", 400)
    send()
    assert service.query("SELECT count(*) AS n FROM events") == [{"n": 1}]
    assert [r["error_code"] for r in service.query("SELECT error_code FROM requests ORDER BY id")] == [
        "ThrottlingException",
        "ThrottlingException",
        None,
    ]


def test_faults_match_their_operation_only(service: PersonalizeService, events: Any, runtime: Any) -> None:
    service.faults.add(target="GetRecommendations", error="InternalServerError")
    events.put_events(trackingId=TRACKING_ID, sessionId="s", eventList=[event("hat")])
    assert error_of(lambda: runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u")) == (
        "InternalServerError",
        500,
    )
    assert runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u")["itemList"]
    assert service.faults.pending() == []


def test_sdk_retries_recover_from_an_injected_500(service: PersonalizeService) -> None:
    service.faults.add(target="GetRecommendations", error="InternalServerError", count=1)
    retrying = boto3.client(
        "personalize-runtime",
        endpoint_url=service.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "max_attempts": 2}),
    )
    answer = retrying.get_recommendations(campaignArn=CAMPAIGN, userId="u")
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1


def test_faults_over_http_from_another_process(service: PersonalizeService, events: Any) -> None:
    pending = inject_fault(service.url, operation="PutEvents", error="ThrottlingException", count=1)
    assert pending == [
        {
            "operation": "PutEvents",
            "error": "ThrottlingException",
            "count": 1,
            "delay_seconds": 0.0,
            "status": 400,
            "message": "Injected fault: ThrottlingException",
        }
    ]
    assert error_of(
        lambda: events.put_events(trackingId=TRACKING_ID, sessionId="s", eventList=[event("hat")])
    )[0] == ("ThrottlingException")
    inject_fault(service.url, operation="PutEvents", error="InternalServerError", count=3)
    request = urllib.request.Request(service.url + "/_local/faults", method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request) as response:  # noqa: S310
        assert json.loads(response.read()) == {"faults": []}
    with pytest.raises(urllib.error.HTTPError) as raised:
        inject_fault(service.url, operation="NoSuchOperation", error="ThrottlingException")
    assert raised.value.code == 400


def test_delay_fault_answers_slowly_and_can_time_a_client_out(
    service: PersonalizeService, runtime: Any
) -> None:
    service.faults.add(target="GetRecommendations", delay_seconds=0.3)
    started = time.monotonic()
    runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u")
    assert time.monotonic() - started >= 0.3
    service.faults.add(target="GetRecommendations", delay_seconds=1.5)
    impatient = boto("personalize-runtime", service.url, read_timeout=0.3)
    with pytest.raises(ReadTimeoutError):
        impatient.get_recommendations(campaignArn=CAMPAIGN, userId="u")
