"""The local Segment's rate limits, scaled down: the Profile API per space, the tracking API per workspace,
answered as Segment's pages say, seen through plain HTTP, the project's Profile API adapter and the
unmodified segment-analytics-python library."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from segment.analytics import Client
from segment.analytics.request import APIError

from local_stack.rate_limits import Rate
from local_stack.segment import SegmentService
from segment_personalize.adapters.profile_api import ProfileApi
from segment_personalize.errors import ProfileApiThrottled
from tests.e2e.local_stack.segment.test_segment import SPACE, TOKEN, WRITE_KEY, traits_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

#: The Profile API's 429 body (https://segment.com/docs/unify/profile-api/, "Errors").
PROFILE_429 = {"error": {"code": "rate_limit_error", "message": "Too many requests hit the API too quickly."}}


@pytest.fixture
def segment() -> Iterator[SegmentService]:
    """A burst of 3 and one request a second on each API: the fourth quick request is over."""
    limits = {"profile": Rate(1, burst=3), "tracking": Rate(1, burst=3)}
    with SegmentService(
        write_keys={WRITE_KEY, "other-key"}, space_id=SPACE, access_token=TOKEN, rate_limits=limits
    ) as service:
        service.set_traits("user_id:u1", {"plan": "pro"})
        yield service


def read(service: SegmentService, space: str = SPACE) -> requests.Response:
    return requests.get(traits_url(service, "user_id:u1", space), auth=(TOKEN, ""), timeout=5)


def track(service: SegmentService, key: str = WRITE_KEY, message_id: str = "m") -> requests.Response:
    batch = {"batch": [{"type": "track", "event": "E", "userId": "u1", "messageId": message_id}]}
    return requests.post(f"{service.url}/v1/batch", json=batch, auth=(key, ""), timeout=5)


def test_over_the_profile_api_limit_the_answer_is_segments_429(segment: SegmentService) -> None:
    answers = [read(segment) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert all(a.json()["traits"] == {"plan": "pro"} for a in answers[:3])
    over = answers[3]
    assert over.json() == PROFILE_429
    assert over.headers["Content-Type"] == "application/json"
    # the Profile API page names no Retry-After: none is sent
    assert "Retry-After" not in over.headers
    assert "X-RateLimit-Reset" not in over.headers
    assert over.headers["Request-Id"]


def test_the_profile_api_limit_is_per_space(segment: SegmentService) -> None:
    assert [read(segment).status_code for _ in range(4)] == [200, 200, 200, 429]
    # another space's bucket is untouched: its requests get past the limit (to the space lookup: 404)
    other = [read(segment, "another-space") for _ in range(3)]
    assert [(a.status_code, a.json()["error"]["code"]) for a in other] == [(404, "not_found")] * 3
    limits = requests.get(f"{segment.url}/_local/limits", timeout=5).json()
    assert limits["refused"] == {"profile": {SPACE: 1}}


def test_the_profile_api_refills_at_its_rate(segment: SegmentService) -> None:
    assert [read(segment).status_code for _ in range(4)] == [200, 200, 200, 429]
    time.sleep(1.1)  # one token a second
    assert [read(segment).status_code for _ in range(2)] == [200, 429]


def test_the_adapter_turns_the_429_into_profile_api_throttled(segment: SegmentService) -> None:
    api = ProfileApi(base_url=segment.url, space_id=SPACE, token=TOKEN, timeout=2.0)
    for _ in range(3):
        assert api.traits("u1", None, include=["plan"]) == {"plan": "pro"}
    with pytest.raises(ProfileApiThrottled, match="429 rate_limit_error"):
        api.traits("u1", None, include=["plan"])


def test_over_the_tracking_limit_the_answer_carries_retry_after_and_reset(segment: SegmentService) -> None:
    answers = [track(segment, message_id=f"m{i}") for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    over = answers[3]
    # https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/: "the response header
    # contains Retry-After and X-RateLimit-Reset headers, which contains the number of seconds"
    assert over.headers["Retry-After"] == "1"
    assert over.headers["X-RateLimit-Reset"] == "1"
    assert over.json()["code"] == "too_many_requests"
    # the refused batch never reached the ingest
    assert [m["messageId"] for m in segment.arrivals()] == ["m0", "m1", "m2"]


def test_the_tracking_limit_is_per_workspace_so_every_write_key_shares_it(segment: SegmentService) -> None:
    keys = [WRITE_KEY, "other-key"] * 2
    statuses = [track(segment, key, f"m{i}").status_code for i, key in enumerate(keys)]
    assert statuses == [200, 200, 200, 429]
    # and the Profile API's bucket is another one
    assert read(segment).status_code == 200


def test_the_library_sees_the_429_in_sync_mode(segment: SegmentService) -> None:
    client = Client(WRITE_KEY, host=segment.url, sync_mode=True)
    for i in range(3):
        client.identify(f"u{i}", {"plan": "pro"})
    with pytest.raises(APIError) as raised:
        client.identify("u9", {"plan": "pro"})
    assert raised.value.status == 429


def test_the_librarys_consumer_waits_out_retry_after_and_delivers_everything() -> None:
    # one request a second, no burst: the library's consumer reads Retry-After and retries after it
    with SegmentService(write_keys={WRITE_KEY}, rate_limits={"tracking": Rate(1, burst=1)}) as segment:
        client = Client(WRITE_KEY, host=segment.url, upload_size=1, upload_interval=0.01, max_retries=5)
        for i in range(3):
            client.identify(f"u{i}", {"n": i}, message_id=f"id-{i}")
        client.flush()
        client.join()
        assert sorted(m["messageId"] for m in segment.arrivals()) == ["id-0", "id-1", "id-2"]
        assert segment.limiter.refused()["tracking"]["workspace"] >= 1


def test_below_the_limits_nothing_changes(segment: SegmentService) -> None:
    # at the real limits (100/s, 1,000/s) a burst of 50 of each is answered as if there were none
    with SegmentService(write_keys={WRITE_KEY}, space_id=SPACE, access_token=TOKEN) as real:
        real.set_traits("user_id:u1", {"plan": "pro"})
        reads = [read(real).status_code for _ in range(50)]
        tracked = [track(real, message_id=f"m{i}").status_code for i in range(50)]
        assert set(reads) == {200}
        assert set(tracked) == {200}
        assert real.limiter.refused() == {}
    # at a scaled-down rate, requests spaced below it are never refused
    segment.limiter.configure({"profile": Rate(20, burst=1)})
    statuses = []
    for _ in range(10):
        statuses.append(read(segment).status_code)
        time.sleep(0.1)  # 10 a second, half the rate
    assert set(statuses) == {200}


def test_the_admin_path_sets_and_turns_off_a_limit(segment: SegmentService) -> None:
    def admin(method: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        answer = requests.request(method, f"{segment.url}/_local/limits", data=data, timeout=5)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    assert admin("GET")["limits"]["profile"] == {"per_second": 1, "burst": 3}
    admin("POST", {"profile": None})
    assert {read(segment).status_code for _ in range(10)} == {200}
    assert admin("DELETE")["limits"]["profile"] == {"per_second": 1, "burst": 3}
    bad = requests.post(f"{segment.url}/_local/limits", json={"profile": {"per_second": -1}}, timeout=5)
    assert bad.status_code == 400
