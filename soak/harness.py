"""Soak: generated traffic, every message delivered twice, faults on the local services, then a redrive.

What one soak does, on a fresh :class:`~local_stack.stack.LocalStack` (loopback only, bounded in count and
time):

1. Generates seeded Segment traffic (:mod:`local_stack.traffic`) and posts it to the local Segment tracking
   API as the website's source would (before any fault is on, so that profile traits exist).
2. Delivers every message to the workflow **twice**, as Segment's destination retries do: the second copy
   comes later, a few deliveries on or many, so that copies overtake each other (out of order).
3. Meanwhile injects faults on the local services, following :func:`soak.faults.fault_plan`: Personalize
   PutEvents ``ThrottlingException``, GetRecommendations 500s, Segment Profile API 429/503, tracking API 503,
   and responses slower than the clients' timeouts (the soak lowers them through the functions' own
   settings: ``SEGMENT_TIMEOUT``, ``SEGMENT_PROFILE_API_TIMEOUT``, ``PERSONALIZE_TIMEOUT``). Short bursts are
   absorbed by the state machine's retries; *outages* last until executions were dead-lettered, so some
   always are.
4. Clears the faults, redrives the dead-letter queue (:func:`cli.redrive.redrive`, with the engine's
   moto SQS and Step Functions) and waits for those executions.
5. Computes the figures from ground truth, not from what the workflow says about itself: the eventIds that
   should reach Personalize come from Validate's own logic (``segment_personalize.interactions``) run on each
   distinct accepted message; the tracked ones are the local Personalize service's stored events (SQLite
   ``events`` table); the dead-lettered ones are the dead-letter queue's bodies. *lost* = expected eventIds
   neither stored nor in the dead-letter queue; *tracked twice* = eventIds stored more than once. Both must be
   0, before and after the redrive.

Each phase is a method of :class:`Soak`; the fault plan is :mod:`soak.faults`, the schedule of copies
:mod:`soak.deliveries`, the figures :mod:`soak.figures` and their printing :mod:`soak.report`.

Retry waits are not slept (``skip_retry_waits``): moto records them instead, so a soak takes minutes, not
the hours the backoffs would add up to. The retries themselves all happen.

**Workflow types.** The local engine runs Step Functions' STANDARD semantics only. ``STANDARD``: both copies
go through the entry function, and the second finds the execution of that name (the dedupe). ``EXPRESS``
has no execution-name dedupe, so a redelivered message starts a second execution; the soak *emulates* that
by starting the second copy as an execution of its own name (``<name>-redelivery``, the same input the entry
function builds). Only Track's and SyncProfile's idempotency records then stand between a redelivery and a
second PutEvents. Other EXPRESS traits (at-least-once state transitions, the 5-minute limit) are not
emulated.

**Slow PutEvents.** A timed-out PutEvents is injected as one that Personalize did *not* apply (the answer,
an error, comes after the client gave up). One that Personalize applied after the client gave up cannot be
told apart by the client: the retry sends the events again and Personalize stores them twice; its API
reference says later events with the same eventId are not used in training. The soak does not inject that
case, so that *tracked twice* measures the workflow alone.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3

from cli.redrive import RedriveReport, redrive
from local_stack.destination import classify
from local_stack.resources import DEFAULT_REGION
from local_stack.run_store import ExecutionRecord
from local_stack.stack import LocalStack
from soak.deliveries import Delivery, deliver, deliveries, traffic_messages
from soak.faults import CLIENT_TIMEOUT, FaultStep, clear_faults, count_answers, fault_plan
from soak.figures import Figures, SoakResult, expectations, ground_truth
from soak.report import print_result

WORKFLOW_TYPES = ("STANDARD", "EXPRESS")
#: History events of a failed step attempt.
_STEP_FAILURES = frozenset({"LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed", "TaskTimedOut"})
#: How every soak ran, printed with its figures.
NOTES = (
    "retry waits skipped (skip_retry_waits): every retry runs, none sleeps",
    f"client timeouts {CLIENT_TIMEOUT:g} s (SEGMENT_TIMEOUT, SEGMENT_PROFILE_API_TIMEOUT, "
    "PERSONALIZE_TIMEOUT); the Personalize clients keep their one SDK retry, as deployed",
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BeforeRedrive:
    """What the deliveries came to once every execution ended, before the redrive."""

    expected: dict[str, str]  # eventId -> messageId, from Validate's logic
    ignored: int
    rejected: Counter[str]
    retries: int
    recovered_by_retries: int
    figures: Figures


class Soak:
    """One soak of one workflow type on an open stack, one method per phase (see the module docstring)."""

    def __init__(
        self,
        stack: LocalStack,
        workflow: str,
        messages: list[Any],
        rng: random.Random,
        *,
        plan: list[FaultStep],
        seconds: float,
        max_in_flight: int,
        execution_timeout: float,
        started: float,
        say: Progress,
    ) -> None:
        assert stack.engine is not None
        assert stack.segment is not None
        self.stack, self.engine, self.segment = stack, stack.engine, stack.segment
        self.workflow, self.messages = workflow, messages
        self.schedule, self.out_of_order = deliveries(messages, rng)
        self.plan, self.seconds, self.started, self.say = plan, seconds, started, say
        self.max_in_flight, self.execution_timeout = max_in_flight, execution_timeout
        self.fault_answers: Counter[str] = Counter()
        self.applied: list[str] = []  # labels of the fault steps turned on
        self.active: FaultStep | None = None  # the outage now on
        self.refused: dict[int, str] = {}  # message index -> why the Segment source refused it
        self.entry_rejections: dict[int, str] = {}  # message index -> why the entry function refused it
        self.pending: deque[str] = deque()  # ARNs of the executions not waited for yet
        self.executions: dict[str, int] = {}  # execution ARN -> message index
        self.first_arn: dict[int, str] = {}  # message index -> the execution its first delivery started
        self.delivered_first: set[int] = set()  # indexes of the messages whose first copy came
        self.descriptions: dict[str, dict[str, Any]] = {}  # execution ARN -> its description once it ended
        self.redeliveries = self.delivered = 0
        self.stopped_early = False

    def run(self) -> SoakResult:
        """Every phase in order; the figures before and after the redrive."""
        count_answers(self.stack, self.fault_answers)
        self.post_to_source()
        self.deliver_with_fault_plan()
        self.drain()
        before = self.compute()
        report = self.redrive_dead_letters(before.figures.dead_letters)
        return self.figures(before, report)

    def post_to_source(self) -> None:
        """The source: Segment receives every message before its destination does (and before any fault)."""
        for index, message in enumerate(self.messages):
            reason = self.stack.send_to_segment(message)
            if reason:
                self.refused[index] = reason

    def deliver_with_fault_plan(self) -> None:
        """Every delivery of the schedule in order, turning the plan's faults on and off as it goes."""
        self.say(f"{self.workflow}: {len(self.messages)} messages, {len(self.schedule)} deliveries")
        for position, delivery in enumerate(self.schedule):
            self._follow_fault_plan(position)
            if delivery.copy == 0 and time.monotonic() - self.started > self.seconds:
                self.stopped_early = True  # out of time: no new messages, but every copy still comes
                continue
            self._deliver(delivery)

    def _follow_fault_plan(self, position: int) -> None:
        fraction = position / len(self.schedule)
        active = self.active
        if active is not None and active.until is not None and fraction >= active.until:
            while self.pending:  # every execution started during the outage meets it
                self._finish(self.pending.popleft())
            assert active.clear is not None
            active.clear(self.stack)
            self._say_at(position, "fault off")
            self.active = None
        while (
            self.plan and fraction >= self.plan[0].at and (self.active is None or self.plan[0].until is None)
        ):
            step = self.plan.pop(0)
            step.action(self.stack)
            self.applied.append(step.label)
            self._say_at(position, f"fault on: {step.label}")
            if step.until is not None:
                self.active = step

    def _say_at(self, position: int, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.say(f"  {elapsed:6.1f} s  {position:>5}/{len(self.schedule)} {text}")

    def _deliver(self, delivery: Delivery) -> None:
        if delivery.copy == 1 and delivery.index not in self.delivered_first:
            return
        if delivery.index in self.refused:
            self.delivered_first.add(delivery.index)
            return
        self.delivered += 1
        arn = deliver(self.engine, delivery, self.workflow, self.entry_rejections)
        self.delivered_first.add(delivery.index)
        if arn is None:
            return
        if delivery.copy == 1:
            self.redeliveries += 1
        if arn in self.executions:
            return  # the same execution: Step Functions deduplicated the redelivery
        self.executions[arn] = delivery.index
        self.first_arn.setdefault(delivery.index, arn)
        self.pending.append(arn)
        while len(self.pending) >= self.max_in_flight:
            self._finish(self.pending.popleft())

    def _finish(self, arn: str) -> None:
        self.descriptions[arn] = self.engine.wait(arn, timeout=self.execution_timeout)

    def drain(self) -> None:
        """Wait for the executions still running, then end every fault."""
        while self.pending:
            self._finish(self.pending.popleft())
        if self.active is not None and self.active.clear is not None:
            self.active.clear(self.stack)
        clear_faults(self.stack)

    def compute(self) -> BeforeRedrive:
        """What happened per execution, and the ground truth before the redrive."""
        recovered = sum(
            1
            for arn, d in self.descriptions.items()
            if d["status"] == "SUCCEEDED"
            and any(e["type"] in _STEP_FAILURES for e in self.engine.history(arn))
        )
        retries = len(self.engine.retry_waits)
        expected, ignored, rejected = expectations(
            self.engine, self.messages, self.first_arn, self.refused, self.entry_rejections
        )
        for arn, description in self.descriptions.items():
            outcome, reason, *_ = classify(ExecutionRecord.from_description(arn, description))
            if outcome == "rejected" and arn == self.first_arn.get(self.executions[arn]):
                rejected[f"workflow: {reason}"] += 1
        before = ground_truth(self.stack, expected)
        elapsed = time.monotonic() - self.started
        self.say(f"  drained in {elapsed:.1f} s; {before.dead_letters} dead letters; redrive")
        return BeforeRedrive(expected, ignored, rejected, retries, recovered, before)

    def redrive_dead_letters(self, dead_letters: int) -> RedriveReport:
        """The fault is gone: redrive the dead-letter queue, and wait for those executions."""
        session = boto3.session.Session(region_name=DEFAULT_REGION)
        report = redrive(
            session.client("sqs"),
            session.client("stepfunctions"),
            self.engine.dead_letter_queue_url,
            self.engine.state_machine_arn,
            max_messages=max(10, dead_letters * 2),
            wait_seconds=0,
        )
        for redriven in report.started:
            if redriven.executionArn:
                self.engine.wait(redriven.executionArn, timeout=self.execution_timeout)
        return report

    def figures(self, before: BeforeRedrive, report: RedriveReport) -> SoakResult:
        """The figures after the redrive, next to the ones before."""
        after = ground_truth(self.stack, before.expected)
        identifies = self.segment.message_log("identify")
        return SoakResult(
            workflow=self.workflow,
            messages=len(self.delivered_first),
            deliveries=self.delivered,
            out_of_order=self.out_of_order,
            accepted=len(self.first_arn),
            redeliveries=self.redeliveries,
            ignored=before.ignored,
            expected_interactions=len(before.expected),
            rejected=before.rejected,
            retries=before.retries,
            recovered_by_retries=before.recovered_by_retries,
            faults=self.applied,
            fault_answers=self.fault_answers,
            before=before.figures,
            after=after,
            redrive=report,
            identify_repeats=sum(int(m.get("duplicates") or 0) for m in identifies),
            seconds=time.monotonic() - self.started,
            stopped_early=self.stopped_early,
            notes=list(NOTES),
        )


def run_soak(
    workflow: str = "STANDARD",
    *,
    events: int = 300,
    seconds: float = 240.0,
    seed: int = 11,
    data_dir: Path | str | None = None,
    max_in_flight: int = 24,
    execution_timeout: float = 120.0,
    progress: Progress | None = None,
    env: dict[str, str] | None = None,
    faults: bool = True,
) -> SoakResult:
    """One soak of ``workflow`` (``STANDARD`` or ``EXPRESS``, see the module docstring); ``env`` adds to the
    functions' settings (e.g. ``{"IDEMPOTENCY_TABLE": ""}`` turns idempotency off, to see the soak fail);
    ``faults`` False delivers twice without injecting any fault."""
    workflow = workflow.upper()
    if workflow not in WORKFLOW_TYPES:
        raise ValueError(f"workflow must be one of {WORKFLOW_TYPES}, got {workflow!r}")
    started = time.monotonic()
    rng = random.Random(seed)
    messages, catalog = traffic_messages(events, seed)
    folder = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="soak-"))
    settings = {
        "SEGMENT_TIMEOUT": str(CLIENT_TIMEOUT),
        "SEGMENT_PROFILE_API_TIMEOUT": str(CLIENT_TIMEOUT),
        "PERSONALIZE_TIMEOUT": str(CLIENT_TIMEOUT),
        **(env or {}),
    }
    with LocalStack(folder, items=catalog, env=settings, skip_retry_waits=True) as stack:
        return Soak(
            stack,
            workflow,
            messages,
            rng,
            plan=fault_plan() if faults else [],
            seconds=seconds,
            max_in_flight=max_in_flight,
            execution_timeout=execution_timeout,
            started=started,
            say=progress or (lambda _text: None),
        ).run()


def soak(
    workflows: Iterable[str],
    *,
    events: int,
    seconds: float,
    seed: int,
    data_dir: Path | str | None = None,
    out: TextIO | None = None,
    progress: Progress | None = None,
) -> list[SoakResult]:
    """Run and print one soak per workflow type; ``seconds`` is shared between them."""
    workflows = list(workflows)
    results = []
    deadline = time.monotonic() + seconds
    for number, workflow in enumerate(workflows):
        budget = max(5.0, (deadline - time.monotonic()) / (len(workflows) - number))
        folder = Path(data_dir) / workflow.lower() if data_dir is not None else None
        result = run_soak(
            workflow, events=events, seconds=budget, seed=seed, data_dir=folder, progress=progress
        )
        print_result(result, out)
        print(file=out or sys.stdout)
        results.append(result)
    return results
