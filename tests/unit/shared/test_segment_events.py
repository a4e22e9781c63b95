"""The Segment message model: every message type, timestamps, ids, and reasons a person can act on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segment_personalize.errors import InvalidSegmentEvent
from segment_personalize.segment_events import (
    MAX_REASON_LENGTH,
    AliasMessage,
    GroupMessage,
    IdentifyMessage,
    PageMessage,
    ScreenMessage,
    SegmentMessage,
    TrackMessage,
    parse_message,
)
from tests.events import load_event

pytestmark = pytest.mark.unit


def _message(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"messageId": "m-1", "type": "track", "event": "Product Viewed", "userId": "u-1"}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


def _reason(raw: object) -> str:
    with pytest.raises(InvalidSegmentEvent) as caught:
        parse_message(raw)
    return str(caught.value)


@pytest.mark.parametrize(
    ("fixture", "model", "user_id", "anonymous_id"),
    [
        ("track_sku", TrackMessage, "AiUGstSDIg", "23adfd82-aa0f-45a7-a756-24f2a7a4c895"),
        ("order_completed", TrackMessage, "97980cfea0067", "507f191e810c19729de860ea"),
        ("page", PageMessage, "97980cfea0067", "507f191e810c19729de860ea"),
        ("identify_traits", IdentifyMessage, "97980cfea0067", "507f191e810c19729de860ea"),
        ("anonymous_only", TrackMessage, None, "c1a4e8b2-7d3f-4f19-9e6a-2b5d8c0f1a37"),
        ("user_only", TrackMessage, "97980cfea0067", None),
        ("timestamp_offset", TrackMessage, "u-4815162342", "f0e1d2c3-b4a5-4968-8776-655443322110"),
        ("product_clicked_with_recommendation", TrackMessage, "97980cfea0067", "507f191e810c19729de860ea"),
        ("malformed_products_not_list", TrackMessage, "97980cfea0067", "507f191e810c19729de860ea"),
    ],
)
def test_valid_fixtures_parse_into_their_message_type(
    fixture: str, model: type, user_id: str | None, anonymous_id: str | None
) -> None:
    raw = load_event(fixture)

    message = parse_message(raw)

    assert isinstance(message, model)
    assert message.message_id == raw["messageId"]
    assert message.user_id == user_id
    assert message.anonymous_id == anonymous_id
    assert message.event_time is not None
    assert message.event_time.tzinfo is not None


def test_fields_of_each_type_are_typed_and_extra_fields_are_kept() -> None:
    identify = parse_message(load_event("identify_traits"))
    page = parse_message(load_event("page"))
    track = parse_message(load_event("track_sku"))

    assert isinstance(identify, IdentifyMessage)
    assert identify.traits["favorite_departments"] == ["Games", "Books"]
    assert identify.model_extra == {"channel": "browser", "version": 2}
    assert isinstance(page, PageMessage)
    assert page.name == "Home"
    assert page.model_extra == {"category": "Docs", "version": 2}
    assert isinstance(track, TrackMessage)
    assert track.event == "Product Viewed"
    assert track.properties["sku"] == "G-32"
    assert track.context["library"]["name"] == "analytics.js"


def test_screen_group_and_alias_messages() -> None:
    screen = parse_message({"messageId": "s", "type": "screen", "name": "Home", "anonymousId": "a"})
    group = parse_message(
        {"messageId": "g", "type": "group", "groupId": "acme", "userId": "u", "traits": None}
    )
    alias = parse_message({"messageId": "al", "type": "alias", "previousId": "a", "userId": "u"})

    assert isinstance(screen, ScreenMessage)
    assert (screen.name, screen.properties) == ("Home", {})
    assert isinstance(group, GroupMessage)
    assert (group.group_id, group.traits) == ("acme", {})
    assert isinstance(alias, AliasMessage)
    assert alias.previous_id == "a"


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("malformed_missing_message_id", "messageId: missing"),
        ("malformed_bad_timestamp", "timestamp: '2024-13-40T25:61:00Z' is not an ISO-8601 date-time"),
        ("malformed_no_ids", "track message needs userId or anonymousId"),
        ("malformed_track_without_event", "event: missing"),
    ],
)
def test_malformed_fixtures_are_rejected_naming_the_field(fixture: str, reason: str) -> None:
    assert _reason(load_event(fixture)) == reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_message(type=...), "type: missing"),
        (_message(type="Track"), "type: 'Track' is not one of track, page, screen, identify, group, alias"),
        (_message(type=7), "type: 7 is not one of track, page, screen, identify, group, alias"),
        (_message(messageId=""), "messageId: must not be empty"),
        (_message(messageId=42), "messageId: must be a string, got number"),
        (_message(userId=12345), "userId: must be a string, got number"),
        (_message(userId=None, anonymousId=["a"]), "anonymousId: must be a string, got array"),
        (_message(userId=""), "track message needs userId or anonymousId"),
        (_message(event=""), "event: must not be empty"),
        (_message(properties=["sku"]), "properties: must be an object, got array"),
        (_message(context="web"), "context: must be an object, got string"),
        (_message(sentAt=1700000000), "sentAt: must be an ISO-8601 date-time string, got number"),
        (_message(timestamp="2024-03-10"), "timestamp: '2024-03-10' is not an ISO-8601 date-time"),
        (_message(timestamp="yesterday"), "timestamp: 'yesterday' is not an ISO-8601 date-time"),
        ({"messageId": "g", "type": "group", "userId": "u"}, "groupId: missing"),
        ({"messageId": "a", "type": "alias", "userId": "u"}, "previousId: missing"),
        ({"type": "page", "userId": "u"}, "messageId: missing"),
    ],
)
def test_reasons_name_the_field_and_the_problem(raw: dict[str, Any], reason: str) -> None:
    assert _reason(raw) == reason


def test_several_problems_are_all_named() -> None:
    reason = _reason(_message(messageId=..., event=..., timestamp="2024-13-40"))

    assert "messageId: missing" in reason
    assert "event: missing" in reason
    assert "timestamp: '2024-13-40' is not an ISO-8601 date-time" in reason


@pytest.mark.parametrize(
    ("raw", "kind"),
    [([], "array"), ("{}", "string"), (None, "null"), (3, "number"), (True, "boolean"), (b"{}", "bytes")],
)
def test_anything_but_an_object_is_rejected(raw: object, kind: str) -> None:
    assert _reason(raw) == f"message: expected a JSON object, got {kind}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-10T09:15:00.000+05:30", datetime(2024, 3, 10, 3, 45, tzinfo=UTC)),
        ("2024-03-10T03:45:00Z", datetime(2024, 3, 10, 3, 45, tzinfo=UTC)),
        ("2024-03-10T03:45:00z", datetime(2024, 3, 10, 3, 45, tzinfo=UTC)),
        ("2024-03-09T19:45:00-08:00", datetime(2024, 3, 10, 3, 45, tzinfo=UTC)),
        ("2024-03-10 03:45:00.250", datetime(2024, 3, 10, 3, 45, 0, 250_000, tzinfo=UTC)),
        ("2024-03-10T03:45:00", datetime(2024, 3, 10, 3, 45, tzinfo=UTC)),
    ],
)
def test_timestamps_with_any_offset_and_naive_ones_as_utc(value: str, expected: datetime) -> None:
    message = parse_message(_message(timestamp=value))

    assert message.timestamp == expected
    assert message.timestamp is not None
    assert message.timestamp.utcoffset() is not None


def test_event_time_prefers_timestamp_then_sent_at_then_original_timestamp_then_received_at() -> None:
    times = {
        "timestamp": "2024-01-01T00:00:01Z",
        "sentAt": "2024-01-01T00:00:02Z",
        "originalTimestamp": "2024-01-01T00:00:03Z",
        "receivedAt": "2024-01-01T00:00:04Z",
    }
    seconds = []
    for dropped in ([], ["timestamp"], ["timestamp", "sentAt"], ["timestamp", "sentAt", "originalTimestamp"]):
        message = parse_message(_message(**{k: v for k, v in times.items() if k not in dropped}))
        assert message.event_time is not None
        seconds.append(message.event_time.second)

    assert seconds == [1, 2, 3, 4]
    assert parse_message(_message()).event_time is None


def test_a_huge_value_is_not_echoed_and_the_reason_is_short() -> None:
    huge = "9" * 1_000_000

    reason = _reason(
        _message(timestamp=huge, sentAt=huge, messageId=..., event=..., userId=..., type="track")
    )

    assert len(reason) <= MAX_REASON_LENGTH
    assert "9" * 100 not in reason
    assert reason.startswith("messageId: missing")


def test_deep_nesting_and_unicode_are_kept_as_they_are() -> None:
    nested: Any = "leaf"
    for _ in range(5_000):
        nested = {"x": [nested]}
    raw = _message(messageId="ajs-ümlaut-🛒", userId="用户-1", properties={"deep": nested, "名前": "カード"})

    message = parse_message(raw)

    assert isinstance(message, TrackMessage)
    assert message.message_id == "ajs-ümlaut-🛒"
    assert message.user_id == "用户-1"
    assert message.properties["名前"] == "カード"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_field_values = st.one_of(
    _json,
    st.sampled_from(
        ["track", "page", "screen", "identify", "group", "alias", "", "2024-03-10T09:15:00+05:30"]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.one_of(
        _json,
        st.dictionaries(
            st.sampled_from(
                [
                    "messageId",
                    "type",
                    "userId",
                    "anonymousId",
                    "event",
                    "timestamp",
                    "sentAt",
                    "properties",
                    "traits",
                    "context",
                    "groupId",
                    "previousId",
                    "name",
                    "receivedAt",
                    "originalTimestamp",
                ]
            ),
            _field_values,
        ),
    )
)
def test_any_input_either_parses_or_raises_invalid_segment_event(raw: object) -> None:
    outcome = _outcome(raw)

    if isinstance(outcome, str):
        assert 0 < len(outcome) <= MAX_REASON_LENGTH
    else:
        assert isinstance(raw, dict)
        assert outcome.type == raw["type"]
        assert outcome.message_id == raw["messageId"]
        assert outcome.user_id or outcome.anonymous_id


def _outcome(raw: object) -> SegmentMessage | str:
    """The message, or the reason it was rejected; any other exception fails the test."""
    try:
        return parse_message(raw)
    except InvalidSegmentEvent as error:
        return str(error)
