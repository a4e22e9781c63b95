"""The validate function: Segment message in, the contract's Validate result (or InvalidSegmentEvent) out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from segment_personalize.errors import ConfigurationError, InvalidSegmentEvent
from segment_personalize.observability import logger
from tests.contract import INTERACTION_KEYS, RESULT_KEYS
from tests.events import event_names, load_event

pytestmark = pytest.mark.unit

SETTINGS = ("INTERACTION_EVENTS", "ITEM_ID_PATHS", "RECOMMEND_FOR_ANONYMOUS")
OFFSET_ANONYMOUS_ID = "f0e1d2c3-b4a5-4968-8776-655443322110"
NO_ITEM_ID = (
    "no item id at properties.sku, properties.product_id, properties.products[].product_id, "
    "properties.products[].sku"
)


@pytest.fixture
def load_validate(
    monkeypatch: pytest.MonkeyPatch, reload_module: Callable[[str], ModuleType]
) -> Callable[..., ModuleType]:
    """``functions.validate.app`` loaded with exactly the given settings."""

    def load(**env: str) -> ModuleType:
        for name in SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return reload_module("functions.validate.app")

    return load


@pytest.fixture
def app(load_validate: Callable[..., ModuleType]) -> ModuleType:
    return load_validate()


@pytest.fixture
def validate(app: ModuleType, lambda_context: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Invoke the handler as the state machine does, with ``{"messageId", "event"}``."""

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        result = app.lambda_handler({"messageId": event.get("messageId"), "event": event}, lambda_context)
        assert set(result) == RESULT_KEYS
        assert json.loads(json.dumps(result)) == result  # what Step Functions stores
        return result

    return invoke


def _rejection(app: ModuleType, lambda_context: Any, payload: Any) -> str:
    with pytest.raises(InvalidSegmentEvent) as caught:
        app.lambda_handler(payload, lambda_context)
    return str(caught.value)


# --- accepted --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "item_ids", "event_value", "user_id", "session_id"),
    [
        ("track_sku", ["G-32"], 18.99, "AiUGstSDIg", "23adfd82-aa0f-45a7-a756-24f2a7a4c895"),
        ("anonymous_only", ["G-32"], 18.99, None, "c1a4e8b2-7d3f-4f19-9e6a-2b5d8c0f1a37"),
        ("user_only", ["505bd76785ebb509fc183733"], 3.0, "97980cfea0067", "97980cfea0067"),
        ("timestamp_offset", ["5f3c2a9e8b1d4c0012ab34cd"], 4.5, "u-4815162342", OFFSET_ANONYMOUS_ID),
        (
            "product_clicked_with_recommendation",
            ["46493-32"],
            3.0,
            "97980cfea0067",
            "507f191e810c19729de860ea",
        ),
    ],
)
def test_single_item_interactions(
    validate: Callable[[dict[str, Any]], dict[str, Any]],
    fixture: str,
    item_ids: list[str],
    event_value: float,
    user_id: str | None,
    session_id: str,
) -> None:
    event = load_event(fixture)

    result = validate(event)

    assert result["status"] == "accepted"
    assert result["reason"] is None
    assert result["messageId"] == event["messageId"]
    assert (result["type"], result["event"]) == ("track", event["event"])
    assert result["userId"] == user_id
    assert result["anonymousId"] == event.get("anonymousId")
    assert result["sessionId"] == session_id
    assert result["recommend"] is (user_id is not None)
    assert [i["itemId"] for i in result["interactions"]] == item_ids
    (interaction,) = result["interactions"]
    assert set(interaction) == INTERACTION_KEYS
    assert interaction["eventId"] == event["messageId"]
    assert interaction["eventType"] == event["event"]
    assert interaction["eventValue"] == event_value


def test_an_offset_timestamp_gives_the_exact_utc_epoch(validate: Callable[..., dict[str, Any]]) -> None:
    # given "2024-03-10T09:15:00.000+05:30", i.e. 2024-03-10T03:45:00Z
    result = validate(load_event("timestamp_offset"))

    assert result["interactions"][0]["sentAt"] == 1710042300.0


def test_sent_at_keeps_milliseconds(validate: Callable[..., dict[str, Any]]) -> None:
    # given timestamp "2024-03-10T03:45:00.368Z"
    result = validate(load_event("track_sku"))

    assert result["interactions"][0]["sentAt"] == 1710042300.368


def test_order_completed_gives_one_interaction_per_product(validate: Callable[..., dict[str, Any]]) -> None:
    # given three products: 19 x 1, 3 x 2, and 4.5 without a quantity; timestamp 2024-03-09T18:20:11.831-08:00
    event = load_event("order_completed")

    result = validate(event)

    message_id = event["messageId"]
    assert result["status"] == "accepted"
    assert [(i["eventId"], i["itemId"], i["eventValue"]) for i in result["interactions"]] == [
        (f"{message_id}-0", "507f1f77bcf86cd799439011", 19.0),
        (f"{message_id}-1", "505bd76785ebb509fc183733", 6.0),
        (f"{message_id}-2", "5f3c2a9e8b1d4c0012ab34cd", 4.5),
    ]
    assert {i["sentAt"] for i in result["interactions"]} == {1710037211.831}
    assert {i["eventType"] for i in result["interactions"]} == {"Order Completed"}
    assert {i["recommendationId"] for i in result["interactions"]} == {None}


def test_recommendation_id_and_impression_are_carried(validate: Callable[..., dict[str, Any]]) -> None:
    result = validate(load_event("product_clicked_with_recommendation"))

    (interaction,) = result["interactions"]
    assert interaction["recommendationId"] == "RID-24-11-5c-c3-a9-4b-b8-3c-dd-79-d3"
    assert interaction["impression"] == ["46493-32", "45790-32", "G-32", "11200-07"]


def test_recommendation_id_in_camel_case_is_read_too(validate: Callable[..., dict[str, Any]]) -> None:
    event = load_event("track_sku")
    event["properties"]["recommendationId"] = "RID-camel"

    assert validate(event)["interactions"][0]["recommendationId"] == "RID-camel"


def test_first_matching_path_wins_per_product(validate: Callable[..., dict[str, Any]]) -> None:
    # given products with a product_id, with only a sku, and with neither
    event = load_event("order_completed")
    products = event["properties"]["products"]
    del products[1]["product_id"]
    del products[2]["product_id"], products[2]["sku"]

    result = validate(event)

    assert [(i["eventId"], i["itemId"]) for i in result["interactions"]] == [
        (f"{event['messageId']}-0", "507f1f77bcf86cd799439011"),
        (f"{event['messageId']}-1", "46493-32"),
    ]


def test_numeric_ids_and_prices_are_read(validate: Callable[..., dict[str, Any]]) -> None:
    event = load_event("user_only")
    event["properties"].update(product_id=90210, price="12.50", revenue=None)

    (interaction,) = validate(event)["interactions"]

    assert interaction["itemId"] == "90210"
    assert interaction["eventValue"] == 12.5


def test_revenue_comes_before_price_and_non_numbers_give_no_value(
    validate: Callable[..., dict[str, Any]],
) -> None:
    with_revenue = load_event("user_only")
    with_revenue["properties"]["revenue"] = 42
    no_number = load_event("user_only")
    no_number["properties"]["price"] = "free"

    assert validate(with_revenue)["interactions"][0]["eventValue"] == 42.0
    assert validate(no_number)["interactions"][0]["eventValue"] is None


def test_configured_events_and_paths(load_validate: Callable[..., ModuleType], lambda_context: Any) -> None:
    app = load_validate(
        INTERACTION_EVENTS="Order Completed, Wishlist Added",
        ITEM_ID_PATHS="properties.products[].sku,properties.item.id",
        RECOMMEND_FOR_ANONYMOUS="true",
    )
    order = load_event("order_completed")
    wish = load_event("anonymous_only")
    wish["event"], wish["properties"] = "Wishlist Added", {"item": {"id": "W-1"}}

    order_result = app.lambda_handler({"messageId": order["messageId"], "event": order}, lambda_context)
    wish_result = app.lambda_handler({"messageId": wish["messageId"], "event": wish}, lambda_context)
    viewed = app.lambda_handler({"messageId": "x", "event": load_event("track_sku")}, lambda_context)

    assert [i["itemId"] for i in order_result["interactions"]] == ["45790-32", "46493-32", "11200-07"]
    assert [i["itemId"] for i in wish_result["interactions"]] == ["W-1"]
    assert wish_result["recommend"] is True  # anonymous, and RECOMMEND_FOR_ANONYMOUS is on
    assert viewed["status"] == "ignored"


def test_bad_settings_fail_at_cold_start(load_validate: Callable[..., ModuleType]) -> None:
    with pytest.raises(ConfigurationError, match="ITEM_ID_PATHS"):
        load_validate(ITEM_ID_PATHS="sku")


def test_the_message_id_of_the_event_wins(app: ModuleType, lambda_context: Any) -> None:
    event = load_event("track_sku")

    result = app.lambda_handler({"messageId": "stale-id", "event": event}, lambda_context)

    assert result["messageId"] == event["messageId"]
    assert result["interactions"][0]["eventId"] == event["messageId"]


# --- ignored ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (load_event("page"), "page messages are not interactions"),
        (load_event("identify_traits"), "identify messages are not interactions"),
        ({"messageId": "s1", "type": "screen", "userId": "u"}, "screen messages are not interactions"),
        (
            {"messageId": "g1", "type": "group", "groupId": "g", "userId": "u"},
            "group messages are not interactions",
        ),
        (
            {"messageId": "a1", "type": "alias", "previousId": "a", "userId": "u"},
            "alias messages are not interactions",
        ),
        ({**load_event("user_only"), "event": "Signed Up"}, "event 'Signed Up' is not in INTERACTION_EVENTS"),
        ({**load_event("user_only"), "properties": {"name": "Uno", "product_id": ""}}, NO_ITEM_ID),
        ({**load_event("order_completed"), "properties": {"products": [{"name": "no id"}]}}, NO_ITEM_ID),
    ],
)
def test_valid_messages_that_are_not_interactions_are_ignored(
    validate: Callable[..., dict[str, Any]], event: dict[str, Any], reason: str
) -> None:
    result = validate(event)

    assert result["status"] == "ignored"
    assert result["reason"] == reason
    assert result["interactions"] == []
    assert result["messageId"] == event["messageId"]
    assert result["sessionId"] in (event.get("anonymousId"), event.get("userId"))


# --- rejected --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("malformed_missing_message_id", "messageId: missing"),
        ("malformed_bad_timestamp", "timestamp: '2024-13-40T25:61:00Z' is not an ISO-8601 date-time"),
        ("malformed_no_ids", "track message needs userId or anonymousId"),
        ("malformed_track_without_event", "event: missing"),
        ("malformed_products_not_list", "properties.products: must be a list of objects, got object"),
    ],
)
def test_malformed_fixtures_are_rejected_naming_the_field(
    app: ModuleType, lambda_context: Any, fixture: str, reason: str
) -> None:
    event = load_event(fixture)

    assert (
        _rejection(app, lambda_context, {"messageId": event.get("messageId", "m"), "event": event}) == reason
    )


def test_every_fixture_is_covered() -> None:
    covered = {
        "track_sku", "order_completed", "page", "identify_traits", "anonymous_only", "user_only",
        "timestamp_offset", "product_clicked_with_recommendation", "malformed_missing_message_id",
        "malformed_bad_timestamp", "malformed_no_ids", "malformed_track_without_event",
        "malformed_products_not_list",
    }  # fmt: skip
    assert set(event_names()) == covered


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (["not", "an", "object"], "input: expected {messageId, event}, got array"),
        ({"messageId": "m"}, "input.event: missing (the Segment message)"),
        (
            {"messageId": "m", "event": "Order Completed"},
            "input.event: must be the Segment message object, got string",
        ),
        (
            {
                "messageId": "m",
                "event": {**load_event("order_completed"), "properties": {"products": [{}, 7]}},
            },
            "properties.products[1]: must be an object, got number",
        ),
    ],
)
def test_bad_workflow_input_is_rejected(
    app: ModuleType, lambda_context: Any, payload: Any, reason: str
) -> None:
    assert _rejection(app, lambda_context, payload) == reason


# --- PutEvents limits ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"userId": "u" * 257}, "userId"),
        ({"anonymousId": "a" * 257}, "anonymousId"),
        ({"messageId": "m" * 257}, "messageId"),
        ({"properties": {"sku": "s" * 257}}, "properties.sku"),
    ],
)
def test_ids_over_256_characters_reject_the_message(
    app: ModuleType, lambda_context: Any, change: dict[str, Any], field: str
) -> None:
    event = {**load_event("track_sku"), **change}

    reason = _rejection(app, lambda_context, {"messageId": event["messageId"], "event": event})

    assert reason.startswith(f"{field}: 257 characters, longer than the 256")


def test_ids_of_256_characters_are_accepted(validate: Callable[..., dict[str, Any]]) -> None:
    event = {
        **load_event("track_sku"),
        "messageId": "m" * 256,
        "userId": "u" * 256,
        "properties": {"sku": "s" * 256},
    }

    (interaction,) = validate(event)["interactions"]

    assert interaction["eventId"] == "m" * 256
    assert interaction["itemId"] == "s" * 256


def test_event_ids_with_a_product_index_must_fit_too(app: ModuleType, lambda_context: Any) -> None:
    # given a messageId of 255 characters: "<messageId>-0" would be 257
    event = {**load_event("order_completed"), "messageId": "m" * 255}

    reason = _rejection(app, lambda_context, {"messageId": event["messageId"], "event": event})

    assert reason == "messageId: 255 characters, longer than the 254 that Amazon Personalize accepts"


def test_a_product_id_over_256_characters_names_the_product(app: ModuleType, lambda_context: Any) -> None:
    event = load_event("order_completed")
    event["properties"]["products"][2]["product_id"] = "p" * 300

    reason = _rejection(app, lambda_context, {"messageId": event["messageId"], "event": event})

    assert reason.startswith("properties.products[2].product_id: 300 characters")


def test_impression_is_cut_to_25_ids(validate: Callable[..., dict[str, Any]]) -> None:
    event = load_event("product_clicked_with_recommendation")
    event["properties"]["impression"] = [f"sku-{n}" for n in range(40)]

    (interaction,) = validate(event)["interactions"]

    assert interaction["impression"] == [f"sku-{n}" for n in range(25)]


@pytest.mark.parametrize(("length", "kept"), [(40, True), (41, False)])
def test_a_recommendation_id_over_40_characters_is_dropped(
    validate: Callable[..., dict[str, Any]], length: int, kept: bool
) -> None:
    event = load_event("product_clicked_with_recommendation")
    event["properties"]["recommendation_id"] = "R" * length

    (interaction,) = validate(event)["interactions"]

    assert interaction["recommendationId"] == ("R" * length if kept else None)
    assert interaction["impression"] is not None  # the rest of the message still counts


# --- observability ---------------------------------------------------------------------------------------
@pytest.fixture
def info_logs() -> Iterator[io.StringIO]:
    """What the shared logger writes at INFO during the test."""
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    capture.setLevel(logging.INFO)
    std_logger = logging.getLogger(logger.name)
    std_logger.addHandler(capture)
    try:
        yield stream
    finally:
        std_logger.removeHandler(capture)


def test_logs_carry_the_message_id_but_no_personal_data(
    validate: Callable[..., dict[str, Any]], info_logs: io.StringIO
) -> None:
    event = load_event("track_sku")

    validate(event)

    lines = [json.loads(line) for line in info_logs.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["Segment message validated"]
    assert lines[0]["correlation_id"] == event["messageId"]
    assert lines[0]["status"] == "accepted"
    text = info_logs.getvalue()
    assert event["userId"] not in text
    assert event["anonymousId"] not in text


def test_metrics_count_accepted_ignored_and_rejected(
    app: ModuleType,
    validate: Callable[..., dict[str, Any]],
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()

    validate(load_event("order_completed"))
    validate(load_event("page"))
    _rejection(app, lambda_context, {"messageId": "m", "event": load_event("malformed_no_ids")})

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counts = [
        {m["Name"]: record[m["Name"]] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        for record in emitted
    ]
    assert counts == [
        {"MessagesAccepted": [1.0], "Interactions": [3.0]},
        {"MessagesIgnored": [1.0], "Interactions": [0.0]},
        {"MessagesRejected": [1.0]},
    ]
    dimensions = {
        key
        for record in emitted
        for d in record["_aws"]["CloudWatchMetrics"]
        for key in sum(d["Dimensions"], [])
    }
    assert dimensions == {"service"}
