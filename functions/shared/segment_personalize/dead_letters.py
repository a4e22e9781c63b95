"""The dead-letter queue: what a letter holds, how big it may be, how long it stays, and so how long the
idempotency records must outlive it. One place for every number, read by the template checks
(``tests/iac/test_dead_letters.py``), the entry function, Track and SyncProfile's idempotency, and redrive.

Two kinds of letter (docs/contract.md):

* a **failed execution**, sent by the state machine's ``SendToDeadLetterQueue``:
  ``{"messageId", "event", "failedState", "error": {"Error", "Cause"}}``; redrive starts it again;
* a **parked input**, sent by the entry function for what can never become an execution (not a JSON object,
  no string messageId, over Step Functions' input limit): ``{"parked": true, "reason", "messageId" (or
  null), "receivedAt", "failedState": "Entry", "error", "input" or, when the input is too large or not JSON,
  "inputText" (its text, cut to fit) with "inputBytes" and "truncated"}``. It stays in the queue with its
  reason: waiting cannot make it valid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: SQS keeps a message at most 14 days: "The maximum is 1,209,600 seconds (14 days)"
#: (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html);
#: ``iac/template.yaml`` sets the queue's MessageRetentionPeriod to it.
RETENTION_SECONDS = 14 * 24 * 60 * 60
#: The queue's MaximumMessageSize, SQS's largest: "The maximum is 1,048,576 bytes (1 MiB)" (the same page).
#: A failed execution's letter holds its input (at most Step Functions' 256 KiB) and the error: it always
#: fits, where the queue's 256 KiB default would refuse one, and the event would be lost.
MAX_MESSAGE_BYTES = 1_048_576
#: Segment retries a failed destination call for four hours: "Segment's internal systems retry failed
#: destination API calls for four hours with a randomized exponential backoff after each attempt"
#: (https://segment.com/docs/connections/destinations/).
SEGMENT_RETRY_SECONDS = 4 * 60 * 60
#: The longest an execution runs before its dead letter is sent (an EXPRESS execution stops at 300 s).
EXECUTION_SECONDS = 300
#: How long a completed idempotency record must answer repeats: the longest way an event can come back. Its
#: first delivery writes the records; Segment may redeliver it for 4 hours, its last execution may be
#: dead-lettered then, and a redrive may come 14 days after that. An hour more for clocks and operators.
IDEMPOTENCY_RECORD_SECONDS = SEGMENT_RETRY_SECONDS + EXECUTION_SECONDS + RETENTION_SECONDS + 60 * 60

#: Room a parked letter keeps for its fields besides the input's text.
_ENVELOPE_BYTES = 4096
PARKED_STATE = "Entry"


def parked_letter(reason: str, raw: Any, message_id: str | None, now: datetime | None = None) -> str:
    """The body of a parked input: the reason, and the input itself when it fits the queue's limit, else
    its text cut to fit (``truncated``), so the letter is never refused for its size."""
    letter: dict[str, Any] = {
        "parked": True,
        "reason": reason,
        "messageId": message_id,
        "receivedAt": (now or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        "failedState": PARKED_STATE,
        "error": {"Error": "InvalidSegmentEvent", "Cause": reason},
    }
    try:
        text = json.dumps(raw, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        letter["inputNotJson"] = True
        try:
            text = repr(raw)
        except RecursionError:  # nested deeper than Python can write it out
            text = f"<{type(raw).__name__} nested too deep to write out>"
    size = len(text.encode("utf-8"))
    if not letter.get("inputNotJson") and size <= MAX_MESSAGE_BYTES - _ENVELOPE_BYTES:
        letter["input"] = raw
    else:
        kept = text.encode("utf-8")[: MAX_MESSAGE_BYTES - _ENVELOPE_BYTES].decode("utf-8", "ignore")
        letter.update(inputText=kept, inputBytes=size, truncated=len(kept) < len(text))
    return json.dumps(letter, ensure_ascii=False)


def is_parked(letter: Mapping[str, Any]) -> bool:
    """Whether a dead letter is a parked input (which no redrive can start)."""
    return letter.get("parked") is True
