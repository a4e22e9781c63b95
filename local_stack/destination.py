"""Replay Segment messages through the entry function and the real state machine; classify what happened.

Each message goes to the entry Lambda exactly as Segment's destination sends it. The entry function starts
one execution per message, skips one that can never be an interaction (outcome ``skipped``, with the
reason: no execution) or refuses the message with a reason; the runner then waits for the executions, keeps
their histories in ``runs.sqlite`` and gives one :class:`Outcome` per input line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from local_stack.lambda_runtime.invoker import InvocationError
from local_stack.run_store import ExecutionRecord, Outcome
from local_stack.stack import LocalStack
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


class _Replay:
    """One replay under way: an Outcome per line so far, and the executions not waited for yet."""

    def __init__(self, stack: LocalStack, progress: Progress | None, timeout: float) -> None:
        assert stack.engine is not None
        assert stack.runs is not None
        self.engine, self.runs = stack.engine, stack.runs
        self.stack, self.progress, self.timeout = stack, progress, timeout
        self.outcomes: list[Outcome] = []
        self.pending: dict[str, list[Outcome]] = {}  # execution ARN -> the lines it answers, oldest first
        self.first: dict[str, Outcome] = {}  # execution name -> the line that started it

    def send(self, line_number: int, message: Any) -> None:
        """Hand one message to Segment, then to the entry function, as Segment's destination does."""
        message_id = message.get("messageId") if isinstance(message, dict) else None
        line = Outcome(line_number, message_id if isinstance(message_id, str) else None, "pending")
        self.outcomes.append(line)
        refused = self.stack.send_to_segment(message)
        if refused:
            line.outcome, line.reason = "rejected", refused
            self._answered()
            return
        try:
            answer = self.engine.deliver(message)
        except InvocationError as error:
            line.outcome = "rejected"
            line.reason = str(error)  # Lambda's errorType: errorMessage
            self._answered()
            return
        for started in answer["started"]:
            if started["status"] == "rejected":  # parked in the dead-letter queue with its reason
                line.outcome, line.reason = "rejected", f"parked by entry: {started['reason']}"
                self._answered()
                continue
            if started["status"] == "skipped":  # never an interaction: no execution
                line.outcome, line.reason = "skipped", started["reason"]
                self._answered()
                continue
            self._started(line, started["executionArn"], started["executionName"], started["status"])

    def _started(self, line: Outcome, arn: str, name: str, status: str) -> None:
        line.executionName = name
        line.duplicate = status == "duplicate" or name in self.first
        self.first.setdefault(name, line)
        if arn in self.pending:
            self.pending[arn].append(line)
            self._answered()
        elif line.duplicate:  # the first delivery has already finished: copy its outcome
            previous = self.first[name]
            line.outcome, line.reason, line.cause = previous.outcome, previous.reason, previous.cause
            self._answered()
        else:
            self.pending[arn] = [line]

    def finish(self, arn: str) -> None:
        """Wait for one execution, keep its history and give its outcome to the lines it answers."""
        description = self.engine.wait(arn, timeout=self.timeout)
        record = ExecutionRecord.from_description(arn, description, self.engine.history(arn))
        self.runs.save_execution(record)
        outcome, reason, cause, items, synced = classify(record)
        for line in self.pending.pop(arn):
            line.outcome, line.reason, line.cause = outcome, reason, cause
            line.itemsTracked, line.synced = (0, False) if line.duplicate else (items, synced)
        self._answered()

    def _answered(self) -> None:
        if self.progress:
            self.progress(1)


def replay(
    stack: LocalStack,
    messages: Iterable[Any],
    *,
    progress: Progress | None = None,
    max_in_flight: int = 24,
    timeout: float = 120.0,
) -> list[Outcome]:
    """Send every message through the entry function; wait for the executions; one Outcome per message."""
    run = _Replay(stack, progress, timeout)
    for line_number, message in enumerate(messages, 1):
        run.send(line_number, message)
        while len(run.pending) >= max_in_flight:
            run.finish(next(iter(run.pending)))
    for arn in list(run.pending):
        run.finish(arn)
    run.runs.save_outcomes(run.outcomes)
    return run.outcomes


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
