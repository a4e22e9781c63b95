"""The entry function: one execution per Segment message, named to dedupe; errors that Segment retries."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from segment_personalize.dead_letters import MAX_MESSAGE_BYTES
from segment_personalize.errors import (
    ConfigurationError,
    DeadLetterQueueUnavailable,
    PermissionDenied,
    StartExecutionFailed,
)
from segment_personalize.executions import MAX_EXECUTION_INPUT_BYTES, execution_input, execution_name
from tests.events import load_event

pytestmark = pytest.mark.unit

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:segment-personalize"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/segment-personalize-dead-letters"
EXECUTION_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:segment-personalize"
VALID_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, reload_module: Callable[[str], ModuleType]) -> ModuleType:
    monkeypatch.setenv("STATE_MACHINE_ARN", STATE_MACHINE_ARN)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", QUEUE_URL)
    return reload_module("functions.entry.app")


@pytest.fixture
def sfn(app: ModuleType) -> Iterator[Stubber]:
    """The module's Step Functions client, stubbed; every expected call must have been made."""
    with Stubber(app.sfn) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _expect_start(sfn: Stubber, message: dict[str, Any], name: str | None = None) -> str:
    name = name or message["messageId"]
    arn = f"{EXECUTION_PREFIX}:{name}"
    sfn.add_response(
        "start_execution",
        {"executionArn": arn, "startDate": datetime(2024, 3, 10, tzinfo=UTC)},
        {
            "stateMachineArn": STATE_MACHINE_ARN,
            "name": name,
            "input": json.dumps(
                {"messageId": message["messageId"], "event": message},
                separators=(",", ":"),
                ensure_ascii=False,
            ),
        },
    )
    return arn


@pytest.fixture
def sqs(app: ModuleType) -> Iterator[Stubber]:
    """The module's SQS client (the dead-letter queue), stubbed; every expected call must have been made."""
    with Stubber(app.sqs) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _expect_park(sqs: Stubber, parked: list[dict[str, Any]]) -> None:
    """Expect one SendMessage to the dead-letter queue; its body is appended to ``parked`` when sent."""

    def record(params: dict[str, Any], **_: Any) -> None:
        if params.get("QueueUrl") == QUEUE_URL:
            parked.append(json.loads(params["MessageBody"]))

    sqs.client.meta.events.register("provide-client-params.sqs.SendMessage", record)
    sqs.add_response("send_message", {"MessageId": f"sqs-{len(parked)}", "MD5OfMessageBody": "x"})


def _rejection(app: ModuleType, sqs: Stubber, lambda_context: Any, event: Any) -> str:
    """The reason entry parks ``event`` with: answered rejected, the letter in the dead-letter queue."""
    parked: list[dict[str, Any]] = []
    _expect_park(sqs, parked)
    answer = app.lambda_handler(event, lambda_context)
    rejected = [item for item in answer["started"] if item["status"] == "rejected"]
    (letter,) = parked
    assert [item["reason"] for item in rejected] == [letter["reason"]]
    assert letter["parked"] is True
    assert letter["error"]["Error"] == "InvalidSegmentEvent"
    return str(letter["reason"])


# --- starting executions ---------------------------------------------------------------------------------
def test_one_message_starts_one_execution(app: ModuleType, sfn: Stubber, lambda_context: Any) -> None:
    message = load_event("order_completed")
    arn = _expect_start(sfn, message)

    result = app.lambda_handler(message, lambda_context)

    assert result == {
        "started": [
            {"messageId": message["messageId"], "executionName": message["messageId"], "executionArn": arn,
             "status": "started"}
        ]
    }  # fmt: skip


def test_a_list_starts_one_execution_per_message_in_order(
    app: ModuleType, sfn: Stubber, lambda_context: Any
) -> None:
    messages = [load_event("track_sku"), load_event("order_completed"), load_event("user_only")]
    arns = [_expect_start(sfn, message) for message in messages]

    result = app.lambda_handler(messages, lambda_context)

    assert [item["executionArn"] for item in result["started"]] == arns
    assert [item["messageId"] for item in result["started"]] == [m["messageId"] for m in messages]
    assert {item["status"] for item in result["started"]} == {"started"}


def test_malformed_messages_with_a_message_id_are_started_for_validate_to_reject(
    app: ModuleType, sfn: Stubber, lambda_context: Any
) -> None:
    # entry only needs a messageId; the workflow's Validate step rejects with the reason
    message = load_event("malformed_no_ids")
    _expect_start(sfn, message)

    assert app.lambda_handler(message, lambda_context)["started"][0]["status"] == "started"


def test_an_existing_execution_is_a_duplicate_delivery(
    app: ModuleType, sfn: Stubber, lambda_context: Any
) -> None:
    message = load_event("track_sku")
    sfn.add_client_error(
        "start_execution",
        service_error_code="ExecutionAlreadyExists",
        service_message=f"Execution Already Exists: '{EXECUTION_PREFIX}:{message['messageId']}'",
        http_status_code=400,
        expected_params={
            "stateMachineArn": STATE_MACHINE_ARN,
            "name": message["messageId"],
            "input": execution_input(message["messageId"], message),
        },
    )

    result = app.lambda_handler(message, lambda_context)

    assert result["started"] == [
        {
            "messageId": message["messageId"],
            "executionName": message["messageId"],
            "executionArn": f"{EXECUTION_PREFIX}:{message['messageId']}",
            "status": "duplicate",
        }
    ]


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("ServiceUnavailable", 503), ("StateMachineDoesNotExist", 400)],
)
def test_other_errors_raise_start_execution_failed_so_segment_retries(
    app: ModuleType, sfn: Stubber, lambda_context: Any, code: str, status: int
) -> None:
    sfn.add_client_error("start_execution", service_error_code=code, http_status_code=status)

    with pytest.raises(StartExecutionFailed, match=code) as caught:
        app.lambda_handler(load_event("track_sku"), lambda_context)

    assert isinstance(caught.value.__cause__, ClientError)


def test_a_failure_in_a_list_raises_after_the_earlier_messages_started(
    app: ModuleType, sfn: Stubber, lambda_context: Any
) -> None:
    # a retry by Segment then finds the first as a duplicate: nothing is started twice
    first, second = load_event("track_sku"), load_event("order_completed")
    _expect_start(sfn, first)
    sfn.add_client_error("start_execution", service_error_code="ThrottlingException", http_status_code=400)

    with pytest.raises(StartExecutionFailed, match="ThrottlingException"):
        app.lambda_handler([first, second], lambda_context)


def test_a_connection_error_raises_start_execution_failed(app: ModuleType, lambda_context: Any) -> None:
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com")

    app.sfn.meta.events.register("before-call.sfn.StartExecution", unreachable)
    try:
        with pytest.raises(StartExecutionFailed, match="EndpointConnectionError") as caught:
            app.lambda_handler(load_event("track_sku"), lambda_context)
    finally:
        app.sfn.meta.events.unregister("before-call.sfn.StartExecution", unreachable)

    assert isinstance(caught.value.__cause__, EndpointConnectionError)


def test_an_input_of_exactly_256_kib_is_started(app: ModuleType, sfn: Stubber, lambda_context: Any) -> None:
    message = {"messageId": "m-big", "type": "track", "properties": {"blob": ""}}
    padding = MAX_EXECUTION_INPUT_BYTES - len(execution_input("m-big", message).encode())
    message["properties"] = {"blob": "é" * (padding // 2) + "x" * (padding % 2)}
    assert len(execution_input("m-big", message).encode()) == MAX_EXECUTION_INPUT_BYTES
    _expect_start(sfn, message)  # non-ASCII is sent as UTF-8, not as \u escapes

    assert app.lambda_handler(message, lambda_context)["started"][0]["status"] == "started"


# --- input that can never become an execution: parked, answered, not retried by Segment (issue 12) -------
@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("ajs-1", "input: expected a Segment message (a JSON object) or a list of them, got string"),
        (None, "input: expected a Segment message (a JSON object) or a list of them, got null"),
        ([], "input: an empty list holds no Segment message"),
        ({"type": "track", "event": "Product Viewed"}, "message: messageId is missing"),
        ({"messageId": 42}, "message: messageId must be a string, got number"),
        ({"messageId": ""}, "message: messageId is empty"),
        (
            {"messageId": "m", "properties": {"price": float("nan")}},
            "message: is not valid JSON (ValueError)",
        ),
    ],
)
def test_hopeless_input_is_parked_with_the_problem_named_and_answered_rejected(
    app: ModuleType, sfn: Stubber, sqs: Stubber, lambda_context: Any, event: Any, reason: str
) -> None:
    # no StartExecution is stubbed: a call would fail the test with a different error
    assert _rejection(app, sqs, lambda_context, event) == reason


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("b", "message [1]: expected a JSON object, got string"),
        ({"messageId": None}, "message [1]: messageId must be a string, got null"),
        ({}, "message [1]: messageId is missing"),
    ],
)
def test_in_a_list_the_good_messages_start_and_the_hopeless_one_is_parked(
    app: ModuleType, sfn: Stubber, sqs: Stubber, lambda_context: Any, bad: Any, reason: str
) -> None:
    good = load_event("track_sku")
    _expect_start(sfn, good)
    parked: list[dict[str, Any]] = []
    _expect_park(sqs, parked)

    answer = app.lambda_handler([good, bad], lambda_context)

    assert [item["status"] for item in answer["started"]] == ["started", "rejected"]
    assert answer["started"][1] == {
        "messageId": None, "status": "rejected", "reason": reason, "deadLetterId": "sqs-0"
    }  # fmt: skip
    assert parked[0]["input"] == bad


def test_an_input_over_256_kib_is_parked_whole(
    app: ModuleType, sfn: Stubber, sqs: Stubber, lambda_context: Any
) -> None:
    big = load_event("track_sku")
    big["properties"]["blob"] = "x" * MAX_EXECUTION_INPUT_BYTES
    parked: list[dict[str, Any]] = []
    _expect_park(sqs, parked)

    (answer,) = app.lambda_handler(big, lambda_context)["started"]

    assert answer["reason"].startswith("message: execution input is ")
    assert answer["reason"].endswith(f"bytes, over Step Functions' {MAX_EXECUTION_INPUT_BYTES}-byte limit")
    assert answer["messageId"] == big["messageId"]
    assert parked[0]["input"] == big  # it fits the queue's 1 MiB: kept whole


def test_an_input_too_large_for_the_queue_is_parked_as_a_truncated_copy_with_its_size(
    app: ModuleType, sqs: Stubber, lambda_context: Any
) -> None:
    huge = {"messageId": "m-huge", "type": "track", "properties": {"blob": "y" * (2 * MAX_MESSAGE_BYTES)}}
    parked: list[dict[str, Any]] = []
    _expect_park(sqs, parked)

    app.lambda_handler(huge, lambda_context)

    (letter,) = parked
    assert "input" not in letter
    assert letter["truncated"] is True
    assert letter["inputBytes"] > 2 * MAX_MESSAGE_BYTES
    assert letter["inputText"].startswith('{"messageId": "m-huge"')
    assert len(json.dumps(letter, ensure_ascii=False).encode()) <= MAX_MESSAGE_BYTES


def test_a_message_nested_too_deep_for_json_is_parked(
    app: ModuleType, sqs: Stubber, lambda_context: Any
) -> None:
    nested: Any = {}
    for _ in range(100_000):
        nested = {"x": nested}

    reason = _rejection(app, sqs, lambda_context, {"messageId": "m", "properties": nested})

    assert reason == "message: is not valid JSON (RecursionError)"


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ServiceUnavailable", DeadLetterQueueUnavailable), ("AccessDenied", PermissionDenied)],
)
def test_a_park_that_fails_raises_so_that_segment_retries(
    app: ModuleType, sqs: Stubber, lambda_context: Any, code: str, expected: type[Exception]
) -> None:
    # the input is not dropped: Segment retries the invoke
    sqs.add_client_error("send_message", service_error_code=code, http_status_code=503)

    with pytest.raises(expected):
        app.lambda_handler({"messageId": ""}, lambda_context)


def test_a_start_the_role_may_not_make_names_the_permission(
    app: ModuleType, sfn: Stubber, lambda_context: Any
) -> None:
    sfn.add_client_error("start_execution", service_error_code="AccessDeniedException", http_status_code=400)

    with pytest.raises(PermissionDenied, match="states:StartExecution was denied"):
        app.lambda_handler(load_event("track_sku"), lambda_context)


def test_a_missing_state_machine_arn_fails_at_cold_start(
    monkeypatch: pytest.MonkeyPatch, reload_module: Callable[[str], ModuleType]
) -> None:
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)

    with pytest.raises(ConfigurationError, match="STATE_MACHINE_ARN is required but not set"):
        reload_module("functions.entry.app")


def test_a_malformed_state_machine_arn_fails_at_cold_start(
    monkeypatch: pytest.MonkeyPatch, reload_module: Callable[[str], ModuleType]
) -> None:
    monkeypatch.setenv("STATE_MACHINE_ARN", "segment-personalize")

    with pytest.raises(
        ConfigurationError, match="STATE_MACHINE_ARN must be a Step Functions state machine ARN"
    ):
        reload_module("functions.entry.app")


# --- execution names -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message_id", ["ajs-f8ca1e4de5024d9430b3928bd8ac6b96", "a", "A_b-9", "x" * 80, "0123456789abcdef" * 5]
)
def test_a_message_id_that_is_a_valid_name_is_the_name(message_id: str) -> None:
    assert execution_name(message_id) == message_id


@pytest.mark.parametrize(
    ("message_id", "kept"),
    [
        ("api:2Lk9 qX1d", "api2Lk9qX1d"),
        ("x" * 81, "x" * 63),
        ("ios-3E7A1C2B.9D4F/4A6E", "ios-3E7A1C2B9D4F4A6E"),
        ("ümlaut 🛒 #1", "mlaut1"),
        (":::", ""),
        ("\ud800 lone surrogate", "lonesurrogate"),
    ],
)
def test_other_message_ids_keep_their_allowed_characters_and_a_hash(message_id: str, kept: str) -> None:
    name = execution_name(message_id)

    assert VALID_NAME.fullmatch(name)
    assert name.rsplit("-", 1) == [kept, name[-16:]]
    assert re.fullmatch(r"[0-9a-f]{16}", name[-16:])
    assert execution_name(message_id) == name


def test_long_ids_sharing_a_prefix_get_distinct_names() -> None:
    first, second = "p" * 100 + "1", "p" * 100 + "2"

    assert execution_name(first) != execution_name(second)
    assert len(execution_name(first)) == len(execution_name(second)) == 80


def test_a_message_id_needing_a_hash_is_started_under_that_name(
    app: ModuleType, sfn: Stubber, lambda_context: Any
) -> None:
    message = {**load_event("user_only"), "messageId": "py:7c1d 2e3f"}
    name = execution_name("py:7c1d 2e3f")
    _expect_start(sfn, message, name=name)

    (started,) = app.lambda_handler(message, lambda_context)["started"]

    assert started["executionName"] == name
    assert started["messageId"] == "py:7c1d 2e3f"


@given(st.text(min_size=1, max_size=300))
def test_every_message_id_gives_a_valid_deterministic_name(message_id: str) -> None:
    name = execution_name(message_id)

    assert VALID_NAME.fullmatch(name)
    assert name == execution_name(message_id)
    assert (name == message_id) == bool(VALID_NAME.fullmatch(message_id))


def test_metrics_count_starts_duplicates_and_failures(
    app: ModuleType, sfn: Stubber, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = load_event("track_sku"), load_event("order_completed")
    _expect_start(sfn, first)
    sfn.add_client_error("start_execution", service_error_code="ExecutionAlreadyExists", http_status_code=400)
    sfn.add_client_error("start_execution", service_error_code="ThrottlingException", http_status_code=400)
    capsys.readouterr()

    app.lambda_handler([first, second], lambda_context)
    with pytest.raises(StartExecutionFailed):
        app.lambda_handler(first, lambda_context)

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counts = [
        {m["Name"]: record[m["Name"]] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        for record in emitted
    ]
    assert counts == [
        {
            "ExecutionsStarted": [1.0],
            "DuplicateDeliveries": [1.0],
            "InputsParked": [0.0],
            "MessagesSkipped": [0.0],
        },
        {"StartExecutionFailures": [1.0]},
    ]
