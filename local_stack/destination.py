"""Replay Segment messages through the entry function and the real state machine; classify what happened.

Each message goes to the entry Lambda exactly as Segment's destination sends it. The entry function starts
one execution per message (or refuses the message with a reason); the runner then waits for the
executions, keeps their histories in ``runs.sqlite`` and gives one :class:`Outcome` per input line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from local_stack.run_store import ExecutionRecord, Outcome
from local_stack.stack import LocalStack
from local_stack.stepfunctions.engine import InvocationError
from state_machines.history import error_message

Progress = Callable[[int], None]


def classify(record: ExecutionRecord) -> tuple[str, str | None, str | None, int, bool]:
    """(outcome, reason, cause, items tracked, synced) of a finished execution."""
    if record.status != "SUCCEEDED":
        cause = f"{record.error}: {error_message(record.cause)}" if record.error else record.status
        return "dead-lettered", None, cause, 0, False
    output = record.output if isinstance(record.output, dict) else {}
    if output.get("outcome") == "rejected":
        return "rejected", str(output.get("reason")), None, 0, False
    validated = output.get("validated") or {}
    if validated.get("status") == "ignored":
        return "ignored", validated.get("reason"), None, 0, False
    tracked = (output.get("tracked") or {}).get("tracked", 0)
    return "tracked", None, None, int(tracked), "synced" in output


def replay(
    stack: LocalStack,
    messages: Iterable[Any],
    *,
    progress: Progress | None = None,
    max_in_flight: int = 24,
    timeout: float = 120.0,
) -> list[Outcome]:
    """Send every message through the entry function; wait for the executions; one Outcome per message."""
    engine = stack.engine
    assert engine is not None
    assert stack.runs is not None
    outcomes: list[Outcome] = []
    pending: dict[str, list[Outcome]] = {}  # execution ARN -> the lines it answers, oldest first
    first: dict[str, Outcome] = {}  # execution name -> the line that started it

    def finish(arn: str) -> None:
        description = engine.wait(arn, timeout=timeout)
        record = ExecutionRecord.from_description(arn, description, engine.history(arn))
        stack.runs.save_execution(record)  # type: ignore[union-attr]
        outcome, reason, cause, items, synced = classify(record)
        for line in pending.pop(arn):
            line.outcome, line.reason, line.cause = outcome, reason, cause
            line.itemsTracked, line.synced = (0, False) if line.duplicate else (items, synced)
        if progress:
            progress(1)

    for line_number, message in enumerate(messages, 1):
        message_id = message.get("messageId") if isinstance(message, dict) else None
        line = Outcome(line_number, message_id if isinstance(message_id, str) else None, "pending")
        outcomes.append(line)
        refused = stack.send_to_segment(message)
        if refused:
            line.outcome, line.reason = "rejected", refused
            if progress:
                progress(1)
            continue
        try:
            answer = engine.deliver(message)
        except InvocationError as error:
            line.outcome = "rejected"
            line.reason = str(error)  # Lambda's errorType: errorMessage
            if progress:
                progress(1)
            continue
        for started in answer["started"]:
            arn, name = started["executionArn"], started["executionName"]
            line.executionName = name
            line.duplicate = started["status"] == "duplicate" or name in first
            first.setdefault(name, line)
            if arn in pending:
                pending[arn].append(line)
                if progress:
                    progress(1)
            elif line.duplicate:  # the first delivery has already finished: copy its outcome
                previous = first[name]
                line.outcome, line.reason, line.cause = previous.outcome, previous.reason, previous.cause
                if progress:
                    progress(1)
            else:
                pending[arn] = [line]
        while len(pending) >= max_in_flight:
            finish(next(iter(pending)))
    for arn in list(pending):
        finish(arn)
    stack.runs.save_outcomes(outcomes)
    return outcomes


def read_jsonl(path: str) -> list[Any]:
    """Messages of a Segment export, one JSON value per line; a line that is not JSON (a blank one too) is
    kept as its text, so the entry function rejects it with a reason instead of the whole file failing."""
    messages: list[Any] = []
    with open(path, encoding="utf-8") as file:
        for raw in file:
            try:
                messages.append(json.loads(raw))
            except ValueError:
                messages.append(raw.rstrip("\n"))
    return messages
