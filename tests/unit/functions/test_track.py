"""Track: PutEvents requests as the real API receives them, batching, errors, the result and the metric."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from segment_personalize.errors import ConfigurationError, PersonalizeRejected, PersonalizeThrottled
from tests.fakes.personalize import FakeEventTracker

pytestmark = pytest.mark.unit

TRACKING_ID = "0123abcd-tracker"
SENT_AT = 1700000000.123


@pytest.fixture
def track(load_app: Callable[..., ModuleType]) -> ModuleType:
    return load_app("track", PERSONALIZE_TRACKING_ID=TRACKING_ID)


@pytest.fixture
def stubber(track: ModuleType) -> Iterator[Stubber]:
    with Stubber(track.personalize.client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def interaction(index: int, **fields: Any) -> dict[str, Any]:
    return {
        "eventId": f"m1-{index}",
        "eventType": "Order Completed",
        "itemId": f"sku-{index}",
        "sentAt": SENT_AT,
    } | fields


def put_event(index: int) -> dict[str, Any]:
    return {
        "eventId": f"m1-{index}",
        "eventType": "Order Completed",
        "itemId": f"sku-{index}",
        "sentAt": datetime.fromtimestamp(SENT_AT, tz=UTC),
    }


def test_23_interactions_are_sent_in_calls_of_10_10_and_3(
    track: ModuleType, stubber: Stubber, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a message with 23 products
    payload = {
        "messageId": "m1",
        "userId": "u1",
        "sessionId": "a1",
        "interactions": [interaction(i) for i in range(23)],
    }
    for start, end in ((0, 10), (10, 20), (20, 23)):
        stubber.add_response(
            "put_events",
            {},
            {
                "trackingId": TRACKING_ID,
                "userId": "u1",
                "sessionId": "a1",
                "eventList": [put_event(i) for i in range(start, end)],
            },
        )
    # when
    result = track.lambda_handler(payload, lambda_context)
    # then
    assert result == {
        "messageId": "m1",
        "tracked": 23,
        "calls": 3,
        "eventIds": [f"m1-{i}" for i in range(23)],
    }
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = [metric["EventsTracked"] for metric in emitted if "EventsTracked" in metric]
    assert values in ([23.0], [[23.0]])  # Powertools may emit one value as a list


def test_an_anonymous_visitor_is_tracked_without_a_user_id(
    track: ModuleType, stubber: Stubber, lambda_context: Any
) -> None:
    payload = {"messageId": "m1", "userId": None, "sessionId": "a1", "interactions": [interaction(0)]}
    # expected params without userId: the Stubber fails on any extra key
    stubber.add_response(
        "put_events", {}, {"trackingId": TRACKING_ID, "sessionId": "a1", "eventList": [put_event(0)]}
    )
    result = track.lambda_handler(payload, lambda_context)
    assert result["calls"] == 1
    assert result["tracked"] == 1


def test_every_optional_field_is_sent_when_present(
    track: ModuleType, stubber: Stubber, lambda_context: Any
) -> None:
    full = interaction(0, eventValue=19.99, recommendationId="RID-1", impression=["sku-0", "sku-9"])
    stubber.add_response(
        "put_events",
        {},
        {
            "trackingId": TRACKING_ID,
            "userId": "u1",
            "sessionId": "a1",
            "eventList": [
                put_event(0)
                | {"eventValue": 19.99, "recommendationId": "RID-1", "impression": ["sku-0", "sku-9"]}
            ],
        },
    )
    result = track.lambda_handler(
        {"messageId": "m1", "userId": "u1", "sessionId": "a1", "interactions": [full]}, lambda_context
    )
    assert result["eventIds"] == ["m1-0"]


def test_throttling_surfaces_as_personalize_throttled(
    track: ModuleType, stubber: Stubber, lambda_context: Any
) -> None:
    stubber.add_client_error("put_events", service_error_code="ThrottlingException", http_status_code=400)
    payload = {"messageId": "m1", "userId": "u1", "sessionId": "a1", "interactions": [interaction(0)]}
    with pytest.raises(PersonalizeThrottled):
        track.lambda_handler(payload, lambda_context)


def test_an_event_id_over_256_characters_is_rejected_and_nothing_is_sent(
    track: ModuleType, stubber: Stubber, lambda_context: Any
) -> None:
    payload = {
        "messageId": "m1",
        "userId": "u1",
        "sessionId": "a1",
        "interactions": [interaction(0), interaction(1, eventId="x" * 257)],
    }
    with pytest.raises(PersonalizeRejected, match=r"eventList\[1\]\.eventId"):
        track.lambda_handler(payload, lambda_context)


def test_the_logic_takes_any_adapter(
    track: ModuleType, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a fake in place of the module's adapter (as the local state machine tests do)
    events = FakeEventTracker()
    monkeypatch.setattr(track, "personalize", events)
    result = track.lambda_handler(
        {"messageId": "m1", "userId": "u1", "sessionId": "a1", "interactions": [interaction(0)]},
        lambda_context,
    )
    assert result["tracked"] == 1
    assert events.calls == [
        {"tracking_id": TRACKING_ID, "session_id": "a1", "user_id": "u1", "events": [put_event(0)]}
    ]


def test_a_missing_tracking_id_fails_at_import(load_app: Callable[..., ModuleType]) -> None:
    with pytest.raises(ConfigurationError, match="PERSONALIZE_TRACKING_ID is required"):
        load_app("track")
