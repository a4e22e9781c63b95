"""The entry function skips what can never be an interaction: no execution for an identify, a page, a
screen, a group, an alias or a track event not in INTERACTION_EVENTS (issue 14 §2); START_EVERY_MESSAGE
starts them anyway; a message that does not parse is still started, for Validate to reject."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from segment_personalize.config import ValidateSettings, load
from segment_personalize.executions import execution_input
from segment_personalize.interactions import validate_payload
from tests.events import load_event

pytestmark = pytest.mark.unit

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:segment-personalize"
EXECUTION_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:segment-personalize"


@pytest.fixture
def load_entry(
    monkeypatch: pytest.MonkeyPatch, reload_module: Callable[[str], ModuleType]
) -> Callable[..., ModuleType]:
    """The entry module loaded with its two required settings and ``env``."""

    def load(**env: str) -> ModuleType:
        for name in ("INTERACTION_EVENTS", "START_EVERY_MESSAGE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("STATE_MACHINE_ARN", STATE_MACHINE_ARN)
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/dlq")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return reload_module("functions.entry.app")

    return load


@pytest.fixture
def app(load_entry: Callable[..., ModuleType]) -> ModuleType:
    return load_entry()


@pytest.fixture
def sfn(app: ModuleType) -> Iterator[Stubber]:
    """The module's Step Functions client, stubbed; every expected call must have been made, and an
    unexpected one fails the test."""
    with Stubber(app.sfn) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _expect_start(sfn: Stubber, message: dict[str, Any]) -> None:
    name = message["messageId"]
    sfn.add_response(
        "start_execution",
        {"executionArn": f"{EXECUTION_PREFIX}:{name}", "startDate": datetime(2024, 3, 10, tzinfo=UTC)},
        {"stateMachineArn": STATE_MACHINE_ARN, "name": name, "input": execution_input(name, message)},
    )


NOT_INTERACTIONS = {
    "page": "page messages are not interactions",
    "identify_traits": "identify messages are not interactions",
}
OTHER_TYPES: dict[str, dict[str, Any]] = {
    "screen": {"name": "Home"},
    "group": {"groupId": "g1", "traits": {"plan": "team"}},
    "alias": {"previousId": "a1"},
}


def _message(kind: str, **fields: Any) -> dict[str, Any]:
    base = {"messageId": f"m-{kind}", "type": kind, "userId": "u1", "timestamp": "2024-03-10T10:00:00Z"}
    return base | fields


@pytest.mark.parametrize("name", sorted(NOT_INTERACTIONS))
def test_a_message_that_is_not_an_interaction_starts_nothing(
    app: ModuleType, sfn: Stubber, lambda_context: Any, name: str
) -> None:
    # no StartExecution is stubbed: a call would fail the test
    message = load_event(name)
    assert app.lambda_handler(message, lambda_context) == {
        "started": [
            {"messageId": message["messageId"], "status": "skipped", "reason": NOT_INTERACTIONS[name]}
        ]
    }


@pytest.mark.parametrize("kind", sorted(OTHER_TYPES))
def test_screen_group_and_alias_are_skipped_too(
    app: ModuleType, sfn: Stubber, lambda_context: Any, kind: str
) -> None:
    (answer,) = app.lambda_handler(_message(kind, **OTHER_TYPES[kind]), lambda_context)["started"]
    assert (answer["status"], answer["reason"]) == ("skipped", f"{kind} messages are not interactions")


def test_a_track_event_not_in_interaction_events_is_skipped_with_validates_reason(
    app: ModuleType, sfn: Stubber, lambda_context: Any
) -> None:
    message = {**load_event("track_sku"), "event": "Signed Up"}
    (answer,) = app.lambda_handler(message, lambda_context)["started"]
    assert answer["status"] == "skipped"
    # the very reason Validate would end it Ignored with
    ignored = validate_payload(
        {"messageId": message["messageId"], "event": message}, load(ValidateSettings, {})
    )
    assert ignored.status == "ignored"
    assert answer["reason"] == ignored.reason == "event 'Signed Up' is not in INTERACTION_EVENTS"


def test_entry_reads_interaction_events_as_validate_does(
    load_entry: Callable[..., ModuleType], lambda_context: Any
) -> None:
    app = load_entry(INTERACTION_EVENTS=" Signed Up ,Product Viewed,")
    signed_up = {**load_event("track_sku"), "messageId": "m-signed-up", "event": "Signed Up"}
    added = {**load_event("track_sku"), "messageId": "m-added", "event": "Product Added"}
    with Stubber(app.sfn) as sfn:
        _expect_start(sfn, signed_up)
        statuses = [
            item["status"] for item in app.lambda_handler([signed_up, added], lambda_context)["started"]
        ]
        sfn.assert_no_pending_responses()
    assert statuses == ["started", "skipped"]
    validate = load(ValidateSettings, {"INTERACTION_EVENTS": " Signed Up ,Product Viewed,"})
    assert validate.interaction_events == app.settings.interaction_events == ["Signed Up", "Product Viewed"]


def test_start_every_message_starts_them_anyway(
    load_entry: Callable[..., ModuleType], lambda_context: Any
) -> None:
    app = load_entry(START_EVERY_MESSAGE="true")
    messages = [load_event("page"), load_event("identify_traits"), _message("alias", previousId="a1")]
    with Stubber(app.sfn) as sfn:
        for message in messages:
            _expect_start(sfn, message)
        answer = app.lambda_handler(messages, lambda_context)
        sfn.assert_no_pending_responses()
    assert [item["status"] for item in answer["started"]] == ["started"] * 3


@pytest.mark.parametrize(
    "name", ["malformed_track_without_event", "malformed_bad_timestamp", "malformed_no_ids"]
)
def test_a_message_that_does_not_parse_is_started_for_validate_to_reject(
    app: ModuleType, sfn: Stubber, lambda_context: Any, name: str
) -> None:
    message = load_event(name)
    _expect_start(sfn, message)
    assert app.lambda_handler(message, lambda_context)["started"][0]["status"] == "started"


def test_an_empty_event_name_or_a_broken_page_is_started_not_skipped(
    app: ModuleType, sfn: Stubber, lambda_context: Any
) -> None:
    # the traffic generator's malformed track (an empty event) and a page with an impossible timestamp
    nameless = {**load_event("track_sku"), "messageId": "m-nameless", "event": ""}
    broken_page = {**load_event("page"), "messageId": "m-page", "timestamp": "2026-13-45T25:61:00Z"}
    for message in (nameless, broken_page):
        _expect_start(sfn, message)
    answer = app.lambda_handler([nameless, broken_page], lambda_context)
    assert [item["status"] for item in answer["started"]] == ["started", "started"]


def test_in_a_list_interactions_start_and_the_others_are_skipped_in_order(
    app: ModuleType, sfn: Stubber, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [load_event("page"), load_event("track_sku"), load_event("identify_traits")]
    _expect_start(sfn, messages[1])
    capsys.readouterr()

    answer = app.lambda_handler(messages, lambda_context)

    assert [item["status"] for item in answer["started"]] == ["skipped", "started", "skipped"]
    assert [item["messageId"] for item in answer["started"]] == [m["messageId"] for m in messages]
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert record["MessagesSkipped"] == [2.0]
    assert record["ExecutionsStarted"] == [1.0]
