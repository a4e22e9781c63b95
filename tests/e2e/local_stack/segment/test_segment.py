"""The local Segment service against the unmodified segment-analytics-python library and plain HTTP."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from segment.analytics import Client
from segment.analytics.request import APIError

from local_stack.segment import SegmentService, write_key_id

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

WRITE_KEY = "local-write-key"
TOKEN = "local-profile-token"
SPACE = "local-space"


@pytest.fixture
def segment() -> Iterator[SegmentService]:
    with SegmentService(write_keys={WRITE_KEY}, space_id=SPACE, access_token=TOKEN) as service:
        yield service


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    """Async clients created by a test; their consumer threads are stopped afterwards."""
    made: list[Client] = []
    yield made
    for client in made:
        client.join()


def async_client(made: list[Client], url: str, key: str = WRITE_KEY, **kwargs: Any) -> Client:
    client = Client(key, host=url, upload_interval=0.05, **kwargs)
    made.append(client)
    return client


def traits_url(service: SegmentService, external_id: str, space: str = SPACE) -> str:
    return f"{service.url}/v1/spaces/{space}/collections/users/profiles/{quote(external_id, safe='')}/traits"


def post(
    service: SegmentService, path: str, body: bytes | dict[str, Any], **kwargs: Any
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return requests.post(f"{service.url}{path}", data=data, headers=headers, timeout=5, **kwargs)


# -- the library in sync mode -------------------------------------------------------------------------


def test_sync_identify_arrives_with_the_library_request_shape(segment: SegmentService, monkeypatch) -> None:
    seen: list[dict[str, str]] = []
    handle = segment.handle

    def recording(method: str, target: str, headers: dict[str, str], body: bytes | None):
        seen.append({"method": method, "target": target, **headers})
        return handle(method, target, headers, body)

    monkeypatch.setattr(segment, "handle", recording)
    client = Client(WRITE_KEY, host=segment.url, sync_mode=True)

    client.identify("u1", {"email": "u1@example.com", "plan": "pro"}, anonymous_id="a1")

    [request] = seen
    assert (request["method"], request["target"]) == ("POST", "/v1/batch")
    assert request["user-agent"].startswith("analytics-python/")
    assert request["authorization"] == "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    [message] = segment.messages(message_type="identify")
    assert (message["userId"], message["anonymousId"]) == ("u1", "a1")
    assert message["traits"] == {"email": "u1@example.com", "plan": "pro"}
    assert "writeKey" not in message
    assert message["receivedAt"].endswith("Z")
    assert segment.message_log()[0]["writeKeyId"] == write_key_id(WRITE_KEY) != WRITE_KEY
    assert segment.profile_traits("user_id:u1") == {"email": "u1@example.com", "plan": "pro"}


def test_two_identifies_merge_traits_like_segment(segment: SegmentService) -> None:
    client = Client(WRITE_KEY, host=segment.url, sync_mode=True)

    client.identify("u1", {"plan": "free", "address": {"city": "Oslo", "zip": "0150"}, "age": 30})
    client.identify("u1", {"plan": "pro", "address": {"city": "Bergen"}, "age": None, "vip": True})

    # new keys added, existing overwritten, nested objects replaced whole, null kept as null
    assert segment.profile_traits("user_id:u1") == {
        "plan": "pro",
        "address": {"city": "Bergen"},
        "age": None,
        "vip": True,
    }


def test_a_repeated_message_id_is_accepted_but_applied_once(segment: SegmentService) -> None:
    client = Client(WRITE_KEY, host=segment.url, sync_mode=True)

    client.identify("u1", {"plan": "free"}, message_id="dup-1")
    client.identify("u1", {"plan": "pro"}, message_id="dup-1")  # a redelivery: 200 again, no effect

    [record] = segment.message_log(message_type="identify")
    assert record["duplicates"] == 1
    assert segment.profile_traits("user_id:u1") == {"plan": "free"}


def test_every_arrival_is_logged_before_the_message_id_dedupe(segment: SegmentService) -> None:
    client = Client(WRITE_KEY, host=segment.url, sync_mode=True, timeout=0.5)
    segment.faults.add(target="tracking", status=503, count=1)
    segment.faults.add(target="tracking", delay_seconds=0.8, count=1)

    with pytest.raises(APIError):  # answered by the fault: Segment never took it
        client.identify("u1", {"plan": "free"}, message_id="arr-1")
    with pytest.raises(requests.Timeout):  # answered late, but applied
        client.identify("u1", {"plan": "free"}, message_id="arr-1")
    time.sleep(0.5)  # the late one is in (0.8 s after it was sent)
    client.identify("u1", {"plan": "pro"}, message_id="arr-1")  # the caller's retry: deduplicated
    client.track(event="", anonymous_id="a1", message_id="arr-2")  # stored as rejected
    client.track("u1", "Viewed", message_id="arr-3")

    identifies = segment.arrivals("identify")
    assert [(a["messageId"], a["userId"], a["outcome"]) for a in identifies] == [
        ("arr-1", "u1", "applied"),
        ("arr-1", "u1", "duplicate"),
    ]
    assert [a["outcome"] for a in segment.arrivals()] == ["applied", "duplicate", "rejected", "applied"]
    assert [a["seq"] for a in segment.arrivals()] == sorted(a["seq"] for a in segment.arrivals())
    listed = requests.get(f"{segment.url}/_local/arrivals?type=identify", timeout=5).json()["arrivals"]
    assert listed == identifies
    segment.reset()
    assert segment.arrivals() == []


def test_a_wrong_write_key_is_the_library_api_error_401(segment: SegmentService) -> None:
    client = Client("not-a-key", host=segment.url, sync_mode=True)

    with pytest.raises(APIError) as error:
        client.identify("u1", {"plan": "pro"})

    assert error.value.status == 401
    assert error.value.code == "unauthorized"
    assert segment.messages() == []


def test_the_library_refuses_a_33_kb_message_before_sending(segment: SegmentService) -> None:
    client = Client(WRITE_KEY, host=segment.url, sync_mode=True)

    with pytest.raises(RuntimeError, match="Message exceeds"):
        client.track("u1", "Big", {"blob": "x" * 33 * 1024})

    assert segment.messages() == []


# -- the library in its default threaded mode, then flush --------------------------------------------


def test_async_gzip_client_delivers_everything_on_flush(
    segment: SegmentService, clients, monkeypatch
) -> None:
    encodings: list[str] = []
    handle = segment.handle

    def recording(method: str, target: str, headers: dict[str, str], body: bytes | None):
        encodings.append(headers.get("content-encoding", ""))
        return handle(method, target, headers, body)

    monkeypatch.setattr(segment, "handle", recording)
    errors: list[Exception] = []
    client = async_client(clients, segment.url, gzip=True, on_error=lambda e, batch: errors.append(e))

    client.identify("u1", {"plan": "free"}, anonymous_id="a1")
    for n in range(5):
        client.track("u1", "Product Viewed", {"sku": f"sku-{n}"}, anonymous_id="a1")
    client.identify("u1", {"plan": "pro"})
    client.flush()

    assert errors == []
    assert encodings
    assert set(encodings) == {"gzip"}
    assert len(segment.messages(message_type="track")) == 5
    assert segment.profile_traits("user_id:u1") == {"plan": "pro"}
    assert segment.profile_traits("anonymous_id:a1") == {"plan": "pro"}  # same profile
    assert len(segment.profile_events("user_id:u1") or []) == 7


def test_async_wrong_key_reaches_on_error_as_api_error(segment: SegmentService, clients) -> None:
    errors: list[Exception] = []
    client = async_client(clients, segment.url, key="wrong", on_error=lambda e, batch: errors.append(e))

    client.identify("u1", {"plan": "pro"})
    client.flush()

    assert [(type(e), getattr(e, "status", None)) for e in errors] == [(APIError, 401)]
    assert segment.messages() == []


def test_async_client_retries_through_an_injected_429(segment: SegmentService, clients) -> None:
    segment.faults.add(target="tracking", status=429, count=1)
    errors: list[Exception] = []
    client = async_client(clients, segment.url, on_error=lambda e, batch: errors.append(e))

    client.identify("u1", {"plan": "pro"}, message_id="m-429")
    client.flush()

    assert errors == []
    assert segment.faults.pending() == []
    assert [r["messageId"] for r in segment.message_log()] == ["m-429"]
    assert segment.profile_traits("user_id:u1") == {"plan": "pro"}


def test_sync_client_sees_an_injected_503_then_succeeds(segment: SegmentService) -> None:
    segment.faults.add(target="tracking", status=503, count=1)
    client = Client(WRITE_KEY, host=segment.url, sync_mode=True)

    with pytest.raises(APIError) as error:
        client.identify("u1", {"plan": "pro"}, message_id="m-503")
    client.identify("u1", {"plan": "pro"}, message_id="m-503")  # the caller's own retry

    assert error.value.status == 503
    assert len(segment.messages()) == 1


# -- the tracking API over plain HTTP ------------------------------------------------------------------


def test_raw_tracking_requests_status_codes(segment: SegmentService) -> None:
    auth = (WRITE_KEY, "")
    identify = {"userId": "u1", "traits": {"plan": "pro"}}
    big = {"userId": "u1", "event": "Big", "properties": {"blob": "x" * 33 * 1024}}

    ok = post(segment, "/v1/identify", identify, auth=auth)
    in_body = post(segment, "/v1/track", {"writeKey": WRITE_KEY, "userId": "u1", "event": "Signed Up"})
    no_key = post(segment, "/v1/identify", identify)
    bad_json = post(segment, "/v1/batch", b'{"batch": [', auth=auth)
    not_a_list = post(segment, "/v1/batch", {"batch": {"userId": "u1"}}, auth=auth)
    too_big_single = post(segment, "/v1/track", big, auth=auth)
    too_big_in_batch = post(segment, "/v1/batch", {"batch": [{"type": "track", **big}]}, auth=auth)
    many = [{"type": "track", "userId": "u1", "event": "E", "properties": {"p": "y" * 30_000}}] * 18
    too_big_batch = post(segment, "/v1/batch", {"batch": many}, auth=auth)

    assert (ok.status_code, ok.json()) == (200, {"success": True})
    assert in_body.status_code == 200
    assert (no_key.status_code, no_key.json()["code"]) == (401, "unauthorized")
    assert (bad_json.status_code, bad_json.json()["code"]) == (400, "invalid_json")
    assert not_a_list.status_code == 400
    assert (too_big_single.status_code, too_big_single.json()["code"]) == (400, "payload_too_large")
    assert too_big_in_batch.status_code == 400
    assert too_big_batch.status_code == 400
    assert [m["type"] for m in segment.messages()] == ["identify", "track"]


def test_gzip_body_batch_context_and_a_rejected_message(segment: SegmentService) -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "m1"},
            {"type": "track", "userId": "u1", "messageId": "m2"},  # no event: Segment drops it
            {"type": "identify", "traits": {"x": 1}, "messageId": "m3"},  # no id at all
        ],
        "context": {"ip": "10.0.0.1"},
        "sentAt": "2024-05-01T10:00:00Z",
    }

    resp = post(
        segment,
        "/v1/batch",
        gzip.compress(json.dumps(body).encode()),
        auth=(WRITE_KEY, ""),
        headers={"Content-Encoding": "gzip"},
    )

    assert resp.status_code == 200
    log = {r["messageId"]: r for r in segment.message_log()}
    assert log["m1"]["status"] == "applied"
    assert log["m1"]["body"]["context"] == {"ip": "10.0.0.1"}
    assert log["m1"]["body"]["sentAt"] == "2024-05-01T10:00:00Z"
    assert (log["m2"]["status"], log["m2"]["reason"]) == ("rejected", "track requires a non-empty event")
    assert log["m3"]["reason"] == "userId or anonymousId is required"
    assert [p["external_ids"] for p in segment.profiles()] == [["user_id:u1"]]


def test_unknown_write_keys_can_be_dropped_silently_like_the_real_api() -> None:
    with SegmentService(reject_unknown_write_keys=False) as service:
        resp = post(service, "/v1/identify", {"userId": "u1", "traits": {}}, auth=("nope", ""))

        assert (resp.status_code, resp.json()) == (200, {"success": True})
        assert service.messages() == []


# -- the Profile API -----------------------------------------------------------------------------------


def test_profile_api_traits_200_with_include_and_paging(segment: SegmentService) -> None:
    segment.set_traits("user_id:u1", {f"t{n:02d}": n for n in range(12)} | {"purchased_products": ["s1"]})
    auth = (TOKEN, "")

    default = requests.get(traits_url(segment, "user_id:u1"), auth=auth, timeout=5)
    chosen = requests.get(
        traits_url(segment, "user_id:u1"),
        params={"include": "purchased_products,t03,missing"},
        auth=auth,
        timeout=5,
    )
    page2 = requests.get(
        traits_url(segment, "user_id:u1"),
        params={"next": default.json()["cursor"]["next"]},
        auth=auth,
        timeout=5,
    )

    assert default.status_code == 200
    assert len(default.json()["traits"]) == 10  # the real API's default limit
    assert default.json()["cursor"]["has_more"] is True
    assert chosen.json()["traits"] == {"purchased_products": ["s1"], "t03": 3}
    assert chosen.json()["cursor"] == {
        "url": chosen.request.path_url,
        "has_more": False,
        "next": "",
        "limit": 10,
    }
    assert len(page2.json()["traits"]) == 3
    assert page2.json()["cursor"]["has_more"] is False


def test_profile_api_errors(segment: SegmentService) -> None:
    segment.set_traits("user_id:u1", {"plan": "pro"})

    wrong_token = requests.get(traits_url(segment, "user_id:u1"), auth=("nope", ""), timeout=5)
    no_auth = requests.get(traits_url(segment, "user_id:u1"), timeout=5)
    unknown_profile = requests.get(traits_url(segment, "user_id:ghost"), auth=(TOKEN, ""), timeout=5)
    no_type = requests.get(traits_url(segment, "u1"), auth=(TOKEN, ""), timeout=5)
    upper_type = requests.get(traits_url(segment, "USER_ID:u1"), auth=(TOKEN, ""), timeout=5)
    unknown_space = requests.get(traits_url(segment, "user_id:u1", "other"), auth=(TOKEN, ""), timeout=5)
    bad_limit = requests.get(
        traits_url(segment, "user_id:u1"), params={"limit": 500}, auth=(TOKEN, ""), timeout=5
    )

    assert wrong_token.status_code == no_auth.status_code == 401
    assert wrong_token.json()["error"]["code"] == "authentication_error"
    assert unknown_profile.status_code == 404
    assert unknown_profile.json() == {"error": {"code": "not_found", "message": "Profile was not found."}}
    assert no_type.status_code == upper_type.status_code == unknown_space.status_code == 404
    assert (bad_limit.status_code, bad_limit.json()["error"]["code"]) == (400, "validation_error")


def test_identity_resolution_reaches_one_profile_by_both_ids(segment: SegmentService) -> None:
    client = Client(WRITE_KEY, host=segment.url, sync_mode=True)

    client.track(event="Product Viewed", anonymous_id="a1", properties={"sku": "s1"})  # anonymous visitor
    client.identify("u2", {"plan": "team"}, anonymous_id="a2")
    client.identify("u1", {"plan": "pro"}, anonymous_id="a1")  # logs in: a1's profile joins u1
    client.identify("u3", {"plan": "free"}, anonymous_id="a2")  # a2 already belongs to u2: no merge

    by_anon = requests.get(traits_url(segment, "anonymous_id:a1"), auth=(TOKEN, ""), timeout=5)
    assert by_anon.json()["traits"] == {"plan": "pro"}
    profile = segment.profile("user_id:u1")
    assert profile is not None
    assert segment.profile("anonymous_id:a1") == profile
    assert sorted(profile["external_ids"]) == ["anonymous_id:a1", "user_id:u1"]
    assert segment.profile_traits("anonymous_id:a2") == {"plan": "team"}
    assert segment.profile_traits("user_id:u3") == {"plan": "free"}
    events = requests.get(
        traits_url(segment, "user_id:u1").replace("/traits", "/events"), auth=(TOKEN, ""), timeout=5
    ).json()["data"]
    assert [(e["type"], e["event"]) for e in events] == [("identify", None), ("track", "Product Viewed")]


def test_profile_api_fault_then_success_and_a_slow_answer(segment: SegmentService) -> None:
    segment.set_traits("user_id:u1", {"plan": "pro"})
    added = requests.post(
        f"{segment.url}/_local/faults",
        json={"api": "profile", "status": 429, "count": 1, "retry_after": 2},
        timeout=5,
    )
    segment.faults.add(target="profile", delay_seconds=0.3)

    throttled = requests.get(traits_url(segment, "user_id:u1"), auth=(TOKEN, ""), timeout=5)
    started = time.monotonic()
    slow = requests.get(traits_url(segment, "user_id:u1"), auth=(TOKEN, ""), timeout=5)
    elapsed = time.monotonic() - started
    fast = requests.get(traits_url(segment, "user_id:u1"), auth=(TOKEN, ""), timeout=5)

    assert added.json()["faults"][0] == {
        "api": "profile",
        "status": 429,
        "delay_seconds": 0.0,
        "retry_after": 2,
        "count": 1,
    }
    assert (throttled.status_code, throttled.json()["error"]["code"]) == (429, "rate_limit_error")
    assert throttled.headers["Retry-After"] == "2"
    assert slow.status_code == 200
    assert elapsed >= 0.3
    assert fast.status_code == 200
    assert requests.get(f"{segment.url}/_local/faults", timeout=5).json() == {"faults": []}


# -- admin path, persistence, concurrency, stop ---------------------------------------------------------


def test_admin_http_path_seeds_and_lists(segment: SegmentService) -> None:
    seeded = requests.put(
        f"{segment.url}/_local/profiles/user_id:u9/traits",
        json={"traits": {"favorite_departments": ["shoes"]}},
        timeout=5,
    )
    post(segment, "/v1/identify", {"userId": "u9", "traits": {"plan": "pro"}}, auth=(WRITE_KEY, ""))

    profiles = requests.get(f"{segment.url}/_local/profiles", timeout=5).json()["profiles"]
    messages = requests.get(f"{segment.url}/_local/messages", params={"type": "identify"}, timeout=5).json()
    bad_fault = requests.post(f"{segment.url}/_local/faults", json={"api": "nope", "status": 500}, timeout=5)

    assert seeded.json() == {"traits": {"favorite_departments": ["shoes"]}}
    assert [p["traits"] for p in profiles] == [{"favorite_departments": ["shoes"], "plan": "pro"}]
    assert [m["userId"] for m in messages["messages"]] == ["u9"]
    assert bad_fault.status_code == 400


def test_state_survives_a_restart_with_a_database_file(tmp_path) -> None:
    db = str(tmp_path / "segment.db")
    with SegmentService(db_path=db) as first:
        Client(WRITE_KEY, host=first.url, sync_mode=True).identify("u1", {"plan": "pro"}, message_id="m1")
    first.close()

    with SegmentService(db_path=db) as second:
        Client(WRITE_KEY, host=second.url, sync_mode=True).identify("u1", {"plan": "x"}, message_id="m1")

        assert second.profile_traits("user_id:u1") == {"plan": "pro"}  # m1 was already applied
    second.close()


def test_parallel_senders_lose_nothing(segment: SegmentService) -> None:
    def send(worker: int) -> None:
        with requests.Session() as session:
            for n in range(15):
                session.post(
                    f"{segment.url}/v1/track",
                    auth=(WRITE_KEY, ""),
                    timeout=5,
                    json={"userId": f"u{worker}", "event": "E", "messageId": f"w{worker}-{n}"},
                ).raise_for_status()

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(segment.messages(message_type="track")) == 8 * 15
    assert len(segment.profiles()) == 8


def test_stop_closes_kept_alive_connections() -> None:
    service = SegmentService()
    service.start()
    with requests.Session() as session:
        assert session.get(f"{service.url}/_local/health", timeout=5).status_code == 200
        url = service.url
        service.stop()

        with pytest.raises(requests.ConnectionError):
            session.get(f"{url}/_local/health", timeout=5)
    service.close()
