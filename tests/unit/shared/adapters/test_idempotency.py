"""Idempotency of Track (each PutEvents call) and SyncProfile (the identify) on moto's DynamoDB.

A retried step (the state machine retries Track after call 2 of 3 was throttled) or a redelivered message
in a second execution (Express workflows do not dedupe by name) must not send the same events twice:
Personalize does not dedupe by eventId. The fakes (``tests/fakes``) count the calls that reach the adapters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from segment_personalize.adapters.idempotency import COMPLETED_RECORD_SECONDS
from segment_personalize.errors import (
    RETRYABLE,
    ConfigurationError,
    IdempotencyStoreUnavailable,
    PersonalizeThrottled,
    SegmentUnavailable,
    StepAlreadyInProgress,
    StepOutOfTime,
)
from tests.fakes import LambdaContext
from tests.fakes.idempotency import TABLE, create_table
from tests.fakes.personalize import FakeEventTracker
from tests.fakes.segment import FakeSegment

pytestmark = pytest.mark.unit

TRACKING_ID = "0123abcd-tracker"
SENT_AT = 1700000000.123


class ProcessDied(BaseException):
    """Not an Exception: Powertools cannot clean up after it, as after a timeout or a crash."""


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """moto's DynamoDB with the idempotency table as iac/template.yaml creates it (key `id`)."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client)
        yield client


@pytest.fixture
def track(load_app: Callable[..., ModuleType], dynamodb: Any) -> tuple[ModuleType, FakeEventTracker]:
    module: Any = load_app("track", PERSONALIZE_TRACKING_ID=TRACKING_ID, IDEMPOTENCY_TABLE=TABLE)
    events = FakeEventTracker()
    module.personalize = events  # the adapter pattern: load_app reloads the module for the next test
    return module, events


@pytest.fixture
def sync_profile(load_app: Callable[..., ModuleType], dynamodb: Any) -> tuple[ModuleType, FakeSegment]:
    module: Any = load_app(
        "sync_profile",
        SEGMENT_WRITE_KEY="write-key",
        SEGMENT_HOST="http://127.0.0.1:9",
        IDEMPOTENCY_TABLE=TABLE,
    )
    segment = FakeSegment()
    module.segment = segment
    return module, segment


def track_payload(count: int, message_id: str = "m1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "userId": "u1",
        "sessionId": "a1",
        "interactions": [
            {
                "eventId": f"{message_id}-{i}",
                "eventType": "Order Completed",
                "itemId": f"sku-{i}",
                "sentAt": SENT_AT,
            }
            for i in range(count)
        ],
    }


def batches(message_id: str, count: int) -> list[list[str]]:
    ids = [f"{message_id}-{i}" for i in range(count)]
    return [ids[start : start + 10] for start in range(0, count, 10)]


def records(dynamodb: Any) -> list[dict[str, Any]]:
    return dynamodb.scan(TableName=TABLE)["Items"]


# --- track -----------------------------------------------------------------------------------------------
def test_a_repeated_track_sends_each_batch_once_and_answers_the_same(
    track: tuple[ModuleType, FakeEventTracker], lambda_context: LambdaContext, dynamodb: Any
) -> None:
    module, events = track
    # given a message of 23 products, tracked once
    first = module.lambda_handler(track_payload(23), lambda_context)
    # when the same input comes again: a redelivery in a second execution, twice
    second = module.lambda_handler(track_payload(23), lambda_context)
    third = module.lambda_handler(track_payload(23), lambda_context)
    # then each of the 3 PutEvents calls was made once, and every run answered alike
    assert events.sent == events.attempts == batches("m1", 23)
    assert (
        first
        == second
        == third
        == {
            "messageId": "m1",
            "tracked": 23,
            "calls": 3,
            "eventIds": [f"m1-{i}" for i in range(23)],
        }
    )
    assert len(records(dynamodb)) == 3  # one record per PutEvents call


def test_a_retry_after_a_throttled_second_call_sends_only_the_calls_not_yet_made(
    track: tuple[ModuleType, FakeEventTracker], lambda_context: LambdaContext
) -> None:
    module, events = track
    # given call 2 of 3 is throttled
    events.failures["m1-10"] = PersonalizeThrottled("PutEvents failed: ThrottlingException (HTTP 400)")
    with pytest.raises(PersonalizeThrottled):
        module.lambda_handler(track_payload(23), lambda_context)
    assert events.sent == batches("m1", 23)[:1]
    # when the state machine retries the step
    result = module.lambda_handler(track_payload(23), lambda_context)
    # then call 1 is not sent again; calls 2 and 3 are sent once; the result is that of a clean run
    assert events.sent == batches("m1", 23)
    assert events.attempts == [batches("m1", 23)[0], *batches("m1", 23)[1:2], *batches("m1", 23)[1:]]
    assert result["calls"] == 3
    assert result["tracked"] == 23


def test_a_batch_is_not_begun_without_the_time_it_may_take_and_the_retry_carries_on(
    track: tuple[ModuleType, FakeEventTracker], lambda_context: LambdaContext
) -> None:
    module, events = track
    # given an invocation whose time runs short after the first of three batches
    left = iter([module.BATCH_WORST_CASE_MS - 1])
    with pytest.raises(StepOutOfTime, match="10 of 23 events sent"):
        module.track(
            module.TrackInput.model_validate(track_payload(23)),
            TRACKING_ID,
            events,
            module.idempotency,
            lambda: next(left),
        )
    assert events.sent == batches("m1", 23)[:1]
    # when the state machine retries the step with a whole invocation's time
    result = module.lambda_handler(track_payload(23), lambda_context)
    # then the first batch answers from its record and the other two are sent once
    assert events.sent == batches("m1", 23)
    assert result["calls"] == 3


def test_another_message_and_another_tracker_are_tracked(
    track: tuple[ModuleType, FakeEventTracker],
    lambda_context: LambdaContext,
    load_app: Callable[..., ModuleType],
) -> None:
    module, events = track
    module.lambda_handler(track_payload(3, "m1"), lambda_context)
    module.lambda_handler(track_payload(3, "m2"), lambda_context)
    assert events.sent == [["m1-0", "m1-1", "m1-2"], ["m2-0", "m2-1", "m2-2"]]
    # the same events into another event tracker are another unit of work
    other = load_app("track", PERSONALIZE_TRACKING_ID="another-tracker", IDEMPOTENCY_TABLE=TABLE)
    other.personalize = events  # type: ignore[attr-defined]  # a swapped adapter
    other.lambda_handler(track_payload(3, "m1"), lambda_context)
    assert events.sent[-1] == ["m1-0", "m1-1", "m1-2"]
    assert len(events.sent) == 3


def test_a_record_is_keyed_by_its_batch_and_kept_24_hours(
    track: tuple[ModuleType, FakeEventTracker], lambda_context: LambdaContext, dynamodb: Any
) -> None:
    module, _ = track
    before = int(time.time())
    module.lambda_handler(track_payload(1), lambda_context)
    (item,) = records(dynamodb)
    assert item["id"]["S"].startswith("segment-personalize.track.PutEvents#")
    assert item["status"]["S"] == "COMPLETED"
    assert COMPLETED_RECORD_SECONDS == 24 * 60 * 60
    assert before + COMPLETED_RECORD_SECONDS <= int(item["expiration"]["N"]) <= int(time.time()) + 86400
    assert json.loads(item["data"]["S"]) == {"eventIds": ["m1-0"], "calls": 1}


def test_a_duplicate_running_at_the_same_time_fails_with_a_retryable_error(
    track: tuple[ModuleType, FakeEventTracker], lambda_context: LambdaContext
) -> None:
    module, events = track
    raised: list[BaseException] = []

    def duplicate() -> None:  # a second execution reaches Track while the first is inside PutEvents
        events.during_call = None
        try:
            module.lambda_handler(track_payload(1), lambda_context)
        except Exception as error:  # noqa: BLE001 - recorded and checked below
            raised.append(error)

    events.during_call = duplicate
    result = module.lambda_handler(track_payload(1), lambda_context)
    assert [type(error) for error in raised] == [StepAlreadyInProgress]
    assert StepAlreadyInProgress in RETRYABLE
    assert events.sent == [["m1-0"]]
    # and its retry gets the first one's result
    assert module.lambda_handler(track_payload(1), lambda_context) == result
    assert events.sent == [["m1-0"]]


def test_a_step_that_died_mid_call_is_retryable_once_its_deadline_passed(
    track: tuple[ModuleType, FakeEventTracker],
) -> None:
    module, events = track
    # given an invocation killed inside PutEvents (its in-progress record stays) with 3 s left (wide enough
    # for a loaded CI machine to make the next call before the deadline)
    events.failures["m1-0"] = ProcessDied()
    with pytest.raises(ProcessDied):
        module.lambda_handler(track_payload(1), LambdaContext(timeout_ms=3_000))
    # when retried before that deadline: the record still holds the key
    with pytest.raises(StepAlreadyInProgress):
        module.lambda_handler(track_payload(1), LambdaContext(timeout_ms=5_000))
    # when retried after it: the call is made
    time.sleep(3.1)
    result = module.lambda_handler(track_payload(1), LambdaContext(timeout_ms=5_000))
    assert result["calls"] == 1
    assert events.attempts == [["m1-0"], ["m1-0"]]
    assert events.sent == [["m1-0"]]


def test_without_idempotency_table_everything_is_sent_and_the_cold_start_says_so(
    load_app: Callable[..., ModuleType], lambda_context: LambdaContext, caplog: pytest.LogCaptureFixture
) -> None:
    # given no IDEMPOTENCY_TABLE (and no DynamoDB at all)
    module = load_app("track", PERSONALIZE_TRACKING_ID=TRACKING_ID)
    notices = [record for record in caplog.records if "IDEMPOTENCY_TABLE is unset" in record.getMessage()]
    assert [notice.levelname for notice in notices] == ["INFO"]
    caplog.clear()
    assert module.idempotency.enabled is False
    events = FakeEventTracker()
    module.personalize = events  # type: ignore[attr-defined]  # a swapped adapter
    # when the same input comes twice
    first = module.lambda_handler(track_payload(12), lambda_context)
    second = module.lambda_handler(track_payload(12), lambda_context)
    # then it works, and (with nothing to remember it) sends twice
    assert first == second
    assert first["calls"] == 2
    assert events.sent == batches("m1", 12) * 2
    assert "IDEMPOTENCY_TABLE is unset" not in caplog.text  # once, at cold start only


def test_an_invalid_table_name_fails_at_import(load_app: Callable[..., ModuleType]) -> None:
    with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE must be a DynamoDB table name"):
        load_app("track", PERSONALIZE_TRACKING_ID=TRACKING_ID, IDEMPOTENCY_TABLE="no spaces allowed")


def test_a_missing_table_is_a_configuration_error_and_nothing_is_sent(
    load_app: Callable[..., ModuleType], dynamodb: Any, lambda_context: LambdaContext
) -> None:
    module = load_app("track", PERSONALIZE_TRACKING_ID=TRACKING_ID, IDEMPOTENCY_TABLE="not-created")
    module.personalize = events = FakeEventTracker()  # type: ignore[attr-defined]  # a swapped adapter
    with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE not-created: ResourceNotFoundException"):
        module.lambda_handler(track_payload(1), lambda_context)
    assert events.attempts == []


def test_a_throttled_table_is_a_retryable_error_and_nothing_is_sent(
    track: tuple[ModuleType, FakeEventTracker], lambda_context: LambdaContext
) -> None:
    module, events = track
    with Stubber(module.idempotency.persistence.client) as stubber:
        stubber.add_client_error(
            "put_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        with pytest.raises(IdempotencyStoreUnavailable, match="ProvisionedThroughputExceededException"):
            module.lambda_handler(track_payload(1), lambda_context)
    assert IdempotencyStoreUnavailable in RETRYABLE
    assert events.attempts == []


# --- sync_profile -----------------------------------------------------------------------------------------
def sync_payload(message_id: str = "m1") -> dict[str, Any]:
    return {"messageId": message_id, "userId": "u1", "anonymousId": "a1", "itemIds": ["sku-1", "sku-2"]}


def test_a_repeated_sync_sends_one_identify_and_answers_the_same(
    sync_profile: tuple[ModuleType, FakeSegment], lambda_context: LambdaContext
) -> None:
    module, segment = sync_profile
    first = module.lambda_handler(sync_payload(), lambda_context)
    second = module.lambda_handler(sync_payload(), lambda_context)
    assert len(segment.sent) == 1
    assert segment.sent[0]["traits"]["recommended_products"] == ["sku-1", "sku-2"]
    assert first == second
    assert first["identifyMessageId"] == segment.sent[0]["message_id"]
    # another message is synced
    module.lambda_handler(sync_payload("m2"), lambda_context)
    assert len(segment.sent) == 2


def test_a_failed_sync_is_sent_again_on_retry(
    sync_profile: tuple[ModuleType, FakeSegment], lambda_context: LambdaContext
) -> None:
    module, segment = sync_profile
    segment.failures.append(SegmentUnavailable("Segment tracking API refused the identify: HTTP 503"))
    with pytest.raises(SegmentUnavailable):
        module.lambda_handler(sync_payload(), lambda_context)
    result = module.lambda_handler(sync_payload(), lambda_context)
    assert len(segment.sent) == 1
    assert result["count"] == 2


def test_sync_without_idempotency_table_sends_every_time(
    load_app: Callable[..., ModuleType], lambda_context: LambdaContext
) -> None:
    module = load_app("sync_profile", SEGMENT_WRITE_KEY="write-key", SEGMENT_HOST="http://127.0.0.1:9")
    module.segment = segment = FakeSegment()  # type: ignore[attr-defined]  # a swapped adapter
    first = module.lambda_handler(sync_payload(), lambda_context)
    second = module.lambda_handler(sync_payload(), lambda_context)
    assert first["identifyMessageId"] == second["identifyMessageId"]  # Segment dedupes these
    assert len(segment.sent) == 2
