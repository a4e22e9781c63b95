"""Replay Segment messages through the entry function and the real state machine; classify what happened.

Each message goes to the entry Lambda exactly as Segment's destination sends it. The entry function starts
one execution per message, skips one that can never be an interaction (outcome ``skipped``, with the
reason: no execution) or refuses the message with a reason; the runner waits for the executions, and
gives one :class:`Outcome` per input line, in input order, as soon as the line's executions have ended.

The replay streams: it reads the messages as it goes, keeps at most ``max_in_flight`` executions running,
writes each execution (with its history) and each outcome to ``runs.sqlite`` as it ends, and then has the
engine forget the execution, so that memory does not grow with the number of messages. ``trace`` reads the
executions back from ``runs.sqlite``.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from local_stack.lambda_runtime.invoker import InvocationError
from local_stack.run_store import ExecutionRecord, Outcome
from local_stack.stack import LocalStack
from state_machines.history import error_message

Progress = Callable[[int], None]

#: The first bytes of a gzip stream (RFC 1952, section 2.3.1).
GZIP_MAGIC = b"\x1f\x8b"


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
    """One replay under way: the lines not handed out yet, and the executions not waited for yet."""

    def __init__(self, stack: LocalStack, timeout: float) -> None:
        assert stack.engine is not None
        assert stack.runs is not None
        self.engine, self.runs = stack.engine, stack.runs
        self.stack, self.timeout = stack, timeout
        # the engine forgets each execution once it is in runs.sqlite; the ARNs it forgot (their names stay
        # taken) are kept there too, not in memory
        if self.engine.forgotten is not self.runs.forgotten:
            self.runs.forgotten |= self.engine.forgotten
            self.engine.forgotten = self.runs.forgotten
        self.waiting: deque[Outcome] = deque()  # the lines not handed out yet, in input order
        self.pending: dict[str, list[Outcome]] = {}  # execution ARN -> the lines it answers, oldest first
        self.awaited: dict[int, int] = {}  # line -> executions of it still running (a list of messages)

    def send(self, line_number: int, message: Any) -> None:
        """Hand one message to Segment, then to the entry function, as Segment's destination does."""
        message_id = message.get("messageId") if isinstance(message, dict) else None
        line = Outcome(line_number, message_id if isinstance(message_id, str) else None, "pending")
        self.waiting.append(line)
        refused = self.stack.send_to_segment(message)
        if refused:
            line.outcome, line.reason = "rejected", refused
            return
        try:
            answer = self.engine.deliver(message)
        except InvocationError as error:
            line.outcome = "rejected"
            line.reason = str(error)  # Lambda's errorType: errorMessage
            return
        for started in answer["started"]:
            if started["status"] == "rejected":  # parked in the dead-letter queue with its reason
                line.outcome, line.reason = "rejected", f"parked by entry: {started['reason']}"
                continue
            if started["status"] == "skipped":  # never an interaction: no execution
                line.outcome, line.reason = "skipped", started["reason"]
                continue
            self._started(line, started["executionArn"], started["executionName"], started["status"])

    def _started(self, line: Outcome, arn: str, name: str, status: str) -> None:
        line.executionName = name
        if arn in self.pending:  # a redelivery while the first delivery's execution runs
            line.duplicate = True
            self._await(line, arn)
        elif status == "duplicate":  # the first delivery's execution has ended: copy its outcome
            line.duplicate = True
            self._answer([line], self._ended(arn, name))
        else:
            self._await(line, arn)

    def _await(self, line: Outcome, arn: str) -> None:
        self.pending.setdefault(arn, []).append(line)
        self.awaited[line.line] = self.awaited.get(line.line, 0) + 1

    def _ended(self, arn: str, name: str) -> ExecutionRecord:
        """The record of an execution that has ended: from runs.sqlite, or from the engine when this replay
        did not start it."""
        record = self.runs.execution_named(name)
        if record is None:
            description = self.engine.wait(arn, timeout=self.timeout)
            record = ExecutionRecord.from_description(arn, description, self.engine.history(arn))
        return record

    def finish(self, arn: str) -> None:
        """Wait for one execution, keep it in runs.sqlite, have the engine forget it, answer its lines."""
        description = self.engine.wait(arn, timeout=self.timeout)
        record = ExecutionRecord.from_description(arn, description, self.engine.history(arn))
        self.runs.save_execution(record)
        self.engine.forget(arn)
        lines = self.pending.pop(arn)
        for line in lines:
            self.awaited[line.line] -= 1
            if not self.awaited[line.line]:
                del self.awaited[line.line]
        self._answer(lines, record)

    @staticmethod
    def _answer(lines: list[Outcome], record: ExecutionRecord) -> None:
        outcome, reason, cause, items, synced = classify(record)
        for line in lines:
            line.outcome, line.reason, line.cause = outcome, reason, cause
            line.itemsTracked, line.synced = (0, False) if line.duplicate else (items, synced)

    def _answered(self, line: Outcome) -> bool:
        return line.outcome != "pending" and line.line not in self.awaited

    def ready(self) -> list[Outcome]:
        """The lines at the head of the input whose executions have all ended, saved to runs.sqlite."""
        done: list[Outcome] = []
        while self.waiting and self._answered(self.waiting[0]):
            done.append(self.waiting.popleft())
        if done:
            self.runs.save_outcomes(done)
        return done


def replay_lazily(
    stack: LocalStack,
    messages: Iterable[Any],
    *,
    progress: Progress | None = None,
    max_in_flight: int = 24,
    max_waiting: int = 1000,
    timeout: float = 120.0,
) -> Iterator[Outcome]:
    """Send every message through the entry function and yield each line's Outcome, in input order, once
    its executions have ended; at most ``max_in_flight`` executions run at a time and at most about
    ``max_waiting`` lines wait for an earlier one."""
    run = _Replay(stack, timeout)
    for line_number, message in enumerate(messages, 1):
        run.send(line_number, message)
        while run.pending and (len(run.pending) >= max_in_flight or len(run.waiting) >= max_waiting):
            run.finish(next(iter(run.pending)))
        yield from _handed_out(run.ready(), progress)
    while run.pending:
        run.finish(next(iter(run.pending)))
        yield from _handed_out(run.ready(), progress)
    yield from _handed_out(run.ready(), progress)


def _handed_out(lines: list[Outcome], progress: Progress | None) -> list[Outcome]:
    if progress and lines:
        progress(len(lines))
    return lines


def replay(stack: LocalStack, messages: Iterable[Any], **options: Any) -> list[Outcome]:
    """:func:`replay_lazily`, every Outcome in a list (for a run small enough to keep them all)."""
    return list(replay_lazily(stack, messages, **options))


def read_jsonl(path: str) -> Generator[Any, None, None]:
    """The messages of a Segment export, one JSON value per line, read as they are needed.

    ``path`` is a file, gzipped or not (told by its first bytes: Segment's S3 destination stores
    "gzipped, newline-separated JSON", https://segment.com/docs/connections/storage/catalog/amazon-s3/), or
    ``-`` for standard input. A line that is not JSON (a blank one too, or one that is not UTF-8) is kept as
    its text, so the entry function rejects it with a reason instead of the whole file failing.
    """
    with _open_export(path) as lines:
        for raw in lines:
            try:
                yield json.loads(raw)
            except ValueError:  # UnicodeDecodeError included
                yield raw.decode("utf-8", "replace").rstrip("\r\n")


@contextmanager
def _open_export(path: str) -> Iterator[Iterable[bytes]]:
    """The export's lines as bytes, decompressed when they are gzip; standard input is left open."""
    raw: Any = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 - closed below
    try:
        stream = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
        if stream.peek(len(GZIP_MAGIC))[: len(GZIP_MAGIC)] == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                yield unzipped
        else:
            yield stream
    finally:
        if path != "-":
            raw.close()
