"""The dead-letter queue as deployed: it keeps letters as long as ``segment_personalize.dead_letters`` says,
takes the largest letter the workflow can send, and the idempotency records outlive the longest way an event
can come back (a redrive after a day would otherwise track again). Each check is shown refusing a change
that would break it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iac.template import CheckFailed, Validation, require
from segment_personalize import dead_letters
from segment_personalize.adapters.idempotency import COMPLETED_RECORD_SECONDS
from segment_personalize.executions import MAX_EXECUTION_INPUT_BYTES
from tests.iac.templates import modified, props

pytestmark = pytest.mark.iac

#: Step Functions' limit on an error's Cause, in characters: the largest Cause a dead letter can carry.
MAX_CAUSE_CHARACTERS = 32_768


def check_queue(v: Validation) -> None:
    """The template's queue keeps letters and takes sizes as dead_letters.py says (one place for both)."""
    queue = props(v.template, "DeadLetterQueue")
    require(
        queue.get("MessageRetentionPeriod") == dead_letters.RETENTION_SECONDS,
        f"the dead-letter queue keeps letters {queue.get('MessageRetentionPeriod')} s, dead_letters.py says "
        f"{dead_letters.RETENTION_SECONDS} s (the idempotency records are sized from it)",
    )
    require(
        queue.get("MaximumMessageSize") == dead_letters.MAX_MESSAGE_BYTES,
        f"the dead-letter queue takes {queue.get('MaximumMessageSize')} bytes, dead_letters.py says "
        f"{dead_letters.MAX_MESSAGE_BYTES}",
    )


def check_record_lifetime(v: Validation, record_seconds: int = COMPLETED_RECORD_SECONDS) -> None:
    """A completed idempotency record lives past the longest way its event can come back: Segment's retries,
    the execution, then the queue's retention until a redrive."""
    retention = int(props(v.template, "DeadLetterQueue")["MessageRetentionPeriod"])
    needed = dead_letters.SEGMENT_RETRY_SECONDS + dead_letters.EXECUTION_SECONDS + retention
    require(
        record_seconds >= needed,
        f"idempotency records live {record_seconds} s, but an event can come back {needed} s after its first "
        f"delivery (Segment's retries, the execution, {retention} s in the dead-letter queue): a redrive "
        "would track it again",
    )


def test_the_queue_keeps_letters_14_days_and_takes_1_mib(validation: Validation) -> None:
    check_queue(validation)
    assert dead_letters.RETENTION_SECONDS == 1_209_600  # SQS's maximum
    assert dead_letters.MAX_MESSAGE_BYTES == 1_048_576  # SQS's maximum


def test_a_queue_the_constants_do_not_describe_is_refused() -> None:
    with pytest.raises(CheckFailed, match="keeps letters 345600 s"):
        check_queue(modified(lambda t: props(t, "DeadLetterQueue").update(MessageRetentionPeriod=345600)))
    with pytest.raises(CheckFailed, match="takes None bytes"):
        check_queue(modified(lambda t: props(t, "DeadLetterQueue").pop("MaximumMessageSize")))


def test_idempotency_records_outlive_the_redrive_window(validation: Validation) -> None:
    check_record_lifetime(validation)


def test_records_kept_a_day_are_refused() -> None:
    with pytest.raises(CheckFailed, match="a redrive would track it again"):
        check_record_lifetime(Validation(), record_seconds=24 * 60 * 60)


def test_the_largest_dead_letter_the_workflow_sends_fits_the_queue() -> None:
    # the state machine's letter: messageId, the whole event (execution input at most 256 KiB), the failed
    # state and the error with its Cause
    event: dict[str, Any] = {"messageId": "m", "blob": "x" * MAX_EXECUTION_INPUT_BYTES}
    letter = {
        "messageId": "m" * 256,
        "event": event,
        "failedState": "SyncProfile",
        "error": {"Error": "E" * 256, "Cause": "é" * MAX_CAUSE_CHARACTERS},
    }
    assert len(json.dumps(letter, ensure_ascii=False).encode()) <= dead_letters.MAX_MESSAGE_BYTES
    # and it would not fit SQS's default of 256 KiB: why the queue is set to its maximum
    assert len(json.dumps(letter, ensure_ascii=False).encode()) > 256 * 1024
