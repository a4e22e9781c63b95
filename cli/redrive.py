"""Redrive: start a new workflow execution for each event of the dead-letter queue, once the fault is gone.

An operator tool for AWS as much as for the local stack (it lives here beside the other
``segment-personalize`` commands): it only needs an SQS client and a Step Functions client, so
``segment-personalize redrive --queue-url URL --state-machine-arn ARN`` works against a deployed stack (the
``DeadLetterQueueUrl`` and ``StateMachineArn`` outputs, boto3's usual credentials and region) and against
``segment-personalize serve`` (``AWS_ENDPOINT_URL``). For each dead-letter message
(``{"messageId", "event", "failedState", "error"}``, docs/contract.md):

* the execution input is rebuilt exactly as the entry function builds it
  (:func:`segment_personalize.executions.execution_input`), so the workflow cannot tell a redrive from a
  delivery;
* the execution name is the original one (:func:`segment_personalize.executions.execution_name` of the
  messageId), cut so that ``-redrive-`` and 12 hex digits of the SHA-256 of the SQS message id fit Step
  Functions' 80 characters. Deterministic, and unique per dead letter: an event dead-lettered again after a
  redrive is a new SQS message, so it gets a new name. If an earlier redrive started the execution but could
  not delete the message, the same name comes back: a STANDARD state machine answers
  ``ExecutionAlreadyExists``, which counts as started (``already_started``), and the message is deleted;
* the SQS message is deleted only after its execution started;
* a message that is not a dead letter of this workflow (not JSON, no string messageId, no event object, an
  input over Step Functions' 256 KB) is left in the queue and reported with the reason, as is one whose
  StartExecution failed. Messages left in place are made visible again when the run ends.

Nothing is tracked twice: Track and SyncProfile keep idempotency records longer than a dead letter can wait
in the queue (``segment_personalize.dead_letters``), so the steps that had already succeeded before the
failure answer from their records, whenever the redrive comes.

A **parked input** (``"parked": true``: what the entry function could never start, with its reason) is left
in the queue with that reason and counted apart (:attr:`RedriveReport.parked`): waiting cannot make it valid;
an operator reads it and deletes it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import boto3

from segment_personalize.dead_letters import is_parked
from segment_personalize.executions import (
    MAX_EXECUTION_INPUT_BYTES,
    execution_arn,
    execution_input,
    suffixed_execution_name,
)

REDRIVE_MARK = "-redrive-"
_DIGEST_DIGITS = 12
#: SQS returns at most 10 messages a receive.
_SQS_BATCH = 10


def redrive_name(message_id: str, sqs_message_id: str) -> str:
    """The execution name of the redrive of one dead letter: the original name, cut, ``-redrive-`` and 12 hex
    digits of the SHA-256 of the SQS message id (at most 80 characters of ``A-Z a-z 0-9 - _``)."""
    digest = hashlib.sha256(sqs_message_id.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_DIGITS]
    suffix = f"{REDRIVE_MARK}{digest}"
    return suffixed_execution_name(message_id, suffix)


@dataclass
class Redriven:
    """A dead letter whose event went back into the workflow (or would, in a dry run)."""

    sqsMessageId: str  # noqa: N815 - JSON field names
    messageId: str  # noqa: N815
    executionName: str  # noqa: N815
    status: str  # "started" | "already_started" | "would_start"
    failedState: str | None = None  # noqa: N815
    error: str | None = None
    executionArn: str | None = None  # noqa: N815


@dataclass
class LeftInQueue:
    """A message the redrive did not take out of the queue, and why; ``parked``: a parked input, which stays
    by design."""

    sqsMessageId: str  # noqa: N815
    reason: str
    messageId: str | None = None  # noqa: N815
    parked: bool = False


@dataclass
class RedriveReport:
    """What one redrive did."""

    dry_run: bool
    received: int = 0
    redriven: list[Redriven] = field(default_factory=list)
    left: list[LeftInQueue] = field(default_factory=list)

    @property
    def started(self) -> list[Redriven]:
        """The executions this run started or found already started (none in a dry run)."""
        return [r for r in self.redriven if r.status in ("started", "already_started")]

    @property
    def parked(self) -> list[LeftInQueue]:
        """The parked inputs it left in place, with their reasons (as it should)."""
        return [left for left in self.left if left.parked]

    @property
    def stuck(self) -> list[LeftInQueue]:
        """The letters it should have taken out and did not (malformed, or their start failed)."""
        return [left for left in self.left if not left.parked]

    def as_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "received": self.received,
            "redriven": [asdict(r) for r in self.redriven],
            "left": [asdict(r) for r in self.left],
            "parked": len(self.parked),
            "stuck": len(self.stuck),
        }


class MalformedDeadLetter(ValueError):
    """The body is not a dead letter this workflow can start again; the message says why."""


def parse_dead_letter(body: str) -> tuple[str, dict[str, Any], str]:
    """(messageId, event, execution input) of a dead-letter body; raises MalformedDeadLetter."""
    try:
        letter = json.loads(body)
    except ValueError as error:
        raise MalformedDeadLetter(f"the body is not JSON ({error.__class__.__name__})") from error
    if not isinstance(letter, dict):
        raise MalformedDeadLetter("the body is not a JSON object")
    message_id = letter.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedDeadLetter("messageId is missing or not a non-empty string")
    event = letter.get("event")
    if not isinstance(event, dict):
        raise MalformedDeadLetter("event is missing or not a JSON object")
    try:
        body_in = execution_input(message_id, event)
    except (ValueError, TypeError, RecursionError) as error:
        raise MalformedDeadLetter(f"the event is not valid JSON ({error.__class__.__name__})") from error
    size = len(body_in.encode("utf-8"))
    if size > MAX_EXECUTION_INPUT_BYTES:
        raise MalformedDeadLetter(
            f"the execution input would be {size} bytes, over Step Functions' {MAX_EXECUTION_INPUT_BYTES}"
        )
    return message_id, event, body_in


def _parked(body: str) -> tuple[str, str | None] | None:
    """(reason, messageId) of a parked input; None for any other body."""
    try:
        letter = json.loads(body)
    except ValueError:
        return None
    if not isinstance(letter, dict) or not is_parked(letter):
        return None
    message_id = letter.get("messageId")
    return str(letter.get("reason")), (message_id if isinstance(message_id, str) else None)


def _describe_failure(body: str) -> tuple[str | None, str | None]:
    """(failedState, error name) of a dead letter, for the report; (None, None) when absent."""
    try:
        letter = json.loads(body)
    except ValueError:
        return None, None
    error = letter.get("error") if isinstance(letter, dict) else None
    state = letter.get("failedState") if isinstance(letter, dict) else None
    name = error.get("Error") if isinstance(error, dict) else None
    return (state if isinstance(state, str) else None), (name if isinstance(name, str) else None)


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__


def redrive(
    sqs_client: Any,
    sfn_client: Any,
    queue_url: str,
    state_machine_arn: str,
    *,
    max_messages: int = 100,
    dry_run: bool = False,
    wait_seconds: int = 1,
    visibility_timeout: int = 120,
) -> RedriveReport:
    """Receive up to ``max_messages`` dead letters and start an execution for each; see the module docstring.

    ``wait_seconds`` is the long-poll wait of each receive (the run stops at the first empty receive);
    ``visibility_timeout`` hides the received messages from other consumers while this run works on them.
    A dry run starts and deletes nothing and reports what it would start.
    """
    if max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    report = RedriveReport(dry_run=dry_run)
    seen: set[str] = set()
    release: list[str] = []  # receipt handles of the messages left in the queue: visible again at the end
    try:
        while report.received < max_messages:
            answer = sqs_client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(_SQS_BATCH, max_messages - report.received),
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=visibility_timeout,
            )
            messages = [m for m in answer.get("Messages", []) if m["MessageId"] not in seen]
            if not messages:
                break
            for message in messages:
                seen.add(message["MessageId"])
                report.received += 1
                if not _redrive_one(
                    sqs_client, sfn_client, queue_url, state_machine_arn, message, dry_run, report
                ):
                    release.append(message["ReceiptHandle"])
    finally:
        for start in range(0, len(release), _SQS_BATCH):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(release[start : start + _SQS_BATCH])
            ]
            sqs_client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    return report


def _redrive_one(
    sqs_client: Any,
    sfn_client: Any,
    queue_url: str,
    state_machine_arn: str,
    message: dict[str, Any],
    dry_run: bool,
    report: RedriveReport,
) -> bool:
    """Handle one received message; True when it was taken out of the queue."""
    sqs_id = message["MessageId"]
    body = message.get("Body", "")
    parked = _parked(body)
    if parked is not None:
        reason, message_id = parked
        report.left.append(LeftInQueue(sqs_id, f"parked by the entry function: {reason}", message_id, True))
        return False
    try:
        message_id, _event, body_in = parse_dead_letter(body)
    except MalformedDeadLetter as error:
        report.left.append(LeftInQueue(sqs_id, f"malformed dead letter: {error}"))
        return False
    failed_state, error_name = _describe_failure(body)
    name = redrive_name(message_id, sqs_id)
    redriven = Redriven(sqs_id, message_id, name, "would_start", failed_state, error_name)
    if dry_run:
        report.redriven.append(redriven)
        return False
    try:
        started = sfn_client.start_execution(stateMachineArn=state_machine_arn, name=name, input=body_in)
    except Exception as error:  # noqa: BLE001 - botocore's ClientError and BotoCoreError alike
        if _error_code(error) != "ExecutionAlreadyExists":
            report.left.append(
                LeftInQueue(sqs_id, f"StartExecution {name} failed: {_error_code(error)}", message_id)
            )
            return False
        redriven.status = "already_started"  # an earlier redrive of this very message started it
        redriven.executionArn = execution_arn(state_machine_arn, name)
    else:
        redriven.status = "started"
        redriven.executionArn = str(started["executionArn"])
    report.redriven.append(redriven)
    try:
        sqs_client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    except Exception as error:  # noqa: BLE001 - the execution runs; the next redrive finds it started
        report.left.append(
            LeftInQueue(
                sqs_id,
                f"execution {name} started, but DeleteMessage failed ({_error_code(error)}): the next "
                "redrive finds it already started",
                message_id,
            )
        )
    return True


def command(args: argparse.Namespace, out: TextIO) -> int:
    session = boto3.session.Session()
    report = redrive(
        session.client("sqs"),
        session.client("stepfunctions"),
        args.queue_url,
        args.state_machine_arn,
        max_messages=args.max,
        dry_run=args.dry_run,
        wait_seconds=args.wait_seconds,
    )
    if args.json:
        print(json.dumps(report.as_json(), indent=2), file=out)
    else:
        for item in report.redriven:
            failure = f"{item.failedState}: {item.error}" if item.failedState else "?"
            print(
                f"{item.status:<16} {item.executionName}  (messageId {item.messageId}; failed at {failure})",
                file=out,
            )
        for left in report.left:
            what = "parked, kept" if left.parked else "left in queue"
            print(f"{what:<16} SQS message {left.sqsMessageId}: {left.reason}", file=out)
        verb = "would start" if report.dry_run else "started"
        print(
            f"\n{report.received} dead letters received, {len(report.redriven)} {verb}, "
            f"{len(report.stuck)} left in the queue, {len(report.parked)} parked inputs kept with their "
            "reason",
            file=out,
        )
    return 1 if report.stuck else 0
