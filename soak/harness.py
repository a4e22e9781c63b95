"""Soak: generated traffic, every message delivered twice, faults on the local services, then a redrive.

What one soak does, on a fresh :class:`~local_stack.stack.LocalStack` (loopback only, bounded in count and
time):

1. Generates seeded Segment traffic (:mod:`local_stack.traffic`), with orders of more than 10 products, and
   posts it to the local Segment tracking API as the website's source would (before any fault is on, so
   that profile traits exist). The generator's own account of each message (ids, user, session, items,
   which it broke and how) is the ground truth of what should happen (:mod:`soak.truth`).
2. Delivers every message to the entry function **twice**, as Segment's destination retries do: for a
   quarter of them both copies at the same moment (two threads, racing), else the second copy later, a few
   deliveries on or many, so that copies overtake each other. A failed invoke is retried as Segment
   retries it (:func:`soak.deliveries.deliver`); one that never gets in is lost, not rejected.
3. Meanwhile injects faults on the local services, following :func:`soak.faults.fault_plan`: Personalize
   PutEvents ``ThrottlingException``, GetRecommendations 500s, Segment Profile API 429/503, tracking API 503,
   responses slower than the clients' timeouts (the soak lowers them through the functions' own settings:
   ``SEGMENT_TIMEOUT``, ``SEGMENT_PROFILE_API_TIMEOUT``, ``PERSONALIZE_TIMEOUT``), a large order's second
   PutEvents call throttled, and *outages* that last until executions were dead-lettered.
4. Clears the faults, redrives the dead-letter queue (:func:`cli.redrive.redrive`, with the engine's moto SQS
   and Step Functions) and waits for those executions.
5. Counts the figures from ground truth (:mod:`soak.figures`, :mod:`soak.syncs`): Personalize's stored
   events, the dead-letter queue's bodies, the entry function's answers and ListExecutions, the local
   Segment's arrivals and profiles, each against the generator's facts. :meth:`SoakResult.failures` lists
   every figure that is not what it must be; ``make soak`` exits 1 when there is one.

Retry waits are not slept (``skip_retry_waits``): moto records them instead, so a soak takes minutes, not
the hours the backoffs would add up to. The retries themselves all happen.

**Workflow types.** The local engine runs Step Functions' STANDARD semantics only. ``STANDARD``: every copy
goes through the entry function, and each after the first must find its message's execution (the name
dedupe). ``EXPRESS`` has no name dedupe: the soak *emulates* it with a sandbox hook of the entry function
(:mod:`soak.emulation`) that starts every delivery under a name of its own (``<name>-express-<hex>``).
Only Track's and SyncProfile's idempotency records then stand between a redelivery and a second PutEvents
or identify. Other EXPRESS traits (at-least-once state transitions, the
5-minute limit) are not emulated.

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
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import boto3

from cli.redrive import RedriveReport, redrive
from local_stack.resources import DEFAULT_REGION
from local_stack.stack import LocalStack
from local_stack.traffic import Traffic
from soak.accounting import Ledger
from soak.deliveries import Answer, Delivery, deliver, deliveries, traffic
from soak.emulation import EXPRESS_HOOK
from soak.faults import (
    CLIENT_TIMEOUT,
    FaultStep,
    clear_faults,
    count_answers,
    fault_plan,
    put_events_calls,
    solo_slot,
)
from soak.figures import SoakResult
from soak.report import print_result

WORKFLOW_TYPES = ("STANDARD", "EXPRESS")
#: How every soak ran, printed with its figures.
NOTES = (
    "retry waits skipped (skip_retry_waits): every retry runs, none sleeps",
    f"client timeouts {CLIENT_TIMEOUT:g} s (SEGMENT_TIMEOUT, SEGMENT_PROFILE_API_TIMEOUT, "
    "PERSONALIZE_TIMEOUT); the Personalize clients keep their one SDK retry, as deployed",
)

Progress = Callable[[str], None]
#: A test's wrapper of a boto3 client the soak itself uses: (service name, client) -> client.
ClientWrapper = Callable[[str, Any], Any]


class Soak:
    """One soak of one workflow type on an open stack, one method per phase (see the module docstring)."""

    def __init__(
        self,
        stack: LocalStack,
        workflow: str,
        generated: Traffic,
        rng: random.Random,
        *,
        plan: list[FaultStep],
        seconds: float,
        max_in_flight: int,
        execution_timeout: float,
        started: float,
        say: Progress,
        wrap_client: ClientWrapper | None = None,
    ) -> None:
        assert stack.engine is not None
        self.stack, self.engine = stack, stack.engine
        self.workflow, self.messages = workflow, generated.messages
        self.schedule = deliveries(self.messages, rng)
        self.plan, self.seconds, self.started, self.say = plan, seconds, started, say
        self.max_in_flight, self.execution_timeout = max_in_flight, execution_timeout
        self.wrap_client = wrap_client or (lambda _service, client: client)
        self.ledger = Ledger(workflow, generated.facts)
        self.applied: list[str] = []  # labels of the fault steps turned on
        self.active: FaultStep | None = None  # the outage now on
        solo = [step for step in plan if step.solo]
        self.plan = [step for step in plan if not step.solo]
        self.solo: dict[int, FaultStep] = {}  # slot -> the fault step for that large order alone
        for step in solo:
            slot = solo_slot(step, self.schedule.slots, generated.facts, self.plan)
            if slot is not None:
                self.solo[slot] = step
        self.pending: deque[str] = deque()  # ARNs of the executions not waited for yet
        self.stopped_early = False

    def run(self) -> SoakResult:
        """Every phase in order; the figures before and after the redrive."""
        count_answers(self.stack, self.ledger.fault_answers)
        self.post_to_source()
        self.deliver_with_fault_plan()
        self.drain()
        self.ledger.before_redrive(self.stack)
        self.say(f"  drained in {time.monotonic() - self.started:.1f} s; redrive")
        report = self.redrive_dead_letters(self.ledger.dead_letters())
        result = self.ledger.result(self.stack, report, self.schedule, self.applied)
        result.seconds, result.stopped_early, result.notes = (
            time.monotonic() - self.started,
            self.stopped_early,
            [*NOTES, *result.notes],
        )
        return result

    def post_to_source(self) -> None:
        """The source: Segment receives every message before its destination does (and before any fault)."""
        for index, message in enumerate(self.messages):
            reason = self.stack.send_to_segment(message)
            if reason:
                self.ledger.refused.add(index)
                self.ledger.rejections[index] = f"Segment: {reason}"

    def deliver_with_fault_plan(self) -> None:
        """Every slot of the schedule in order, turning the plan's faults on and off as it goes."""
        slots = self.schedule.slots
        self.say(f"{self.workflow}: {len(self.messages)} messages, {sum(map(len, slots))} deliveries")
        for position, slot in enumerate(slots):
            self._follow_fault_plan(position)
            if any(d.copy == 0 for d in slot) and time.monotonic() - self.started > self.seconds:
                self.stopped_early = True  # out of time: no new messages, but every copy still comes
                continue
            if position in self.solo:
                self._deliver_alone(position, slot, self.solo[position])
            else:
                self._deliver(slot)

    def _follow_fault_plan(self, position: int) -> None:
        fraction = position / len(self.schedule.slots)
        active = self.active
        if active is not None and active.until is not None and fraction >= active.until:
            self._wait_for_all()  # every execution started during the outage meets it
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

    def _deliver_alone(self, position: int, slot: Sequence[Delivery], step: FaultStep) -> None:
        """One large order with nothing else in flight, its fault on: the fault meets this order only."""
        self._wait_for_all()
        step.action(self.stack)
        self.applied.append(step.label)
        self._say_at(position, f"fault on: {step.label}")
        self._deliver(slot)
        self._wait_for_all()
        message_id = slot[0].message.get("messageId")
        self.ledger.notes.append(
            f"large order {message_id}: PutEvents calls {', '.join(put_events_calls(self.stack, message_id))}"
        )

    def _say_at(self, position: int, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.say(f"  {elapsed:6.1f} s  {position:>5}/{len(self.schedule.slots)} {text}")

    def _deliver(self, slot: Sequence[Delivery]) -> None:
        """Hand a slot's deliveries to the entry function, at the same moment when there are two."""
        ledger = self.ledger
        ledger.delivered.update(d.index for d in slot if d.copy == 0)
        due = [d for d in slot if d.index in ledger.delivered and d.index not in ledger.refused]
        if not due:
            return
        answers: list[Answer] = []
        if len(due) == 1:
            answers.append(deliver(self.engine, due[0]))
        else:
            answers.extend(_at_once(self.engine, due))
        for arn in ledger.record(answers):
            self.pending.append(arn)
        while len(self.pending) >= self.max_in_flight:
            self._finish(self.pending.popleft())

    def _finish(self, arn: str) -> None:
        self.ledger.ended(
            arn, self.engine.wait(arn, timeout=self.execution_timeout), self.engine.history(arn)
        )

    def _wait_for_all(self) -> None:
        while self.pending:
            self._finish(self.pending.popleft())

    def drain(self) -> None:
        """Wait for the executions still running, then end every fault."""
        self._wait_for_all()
        if self.active is not None and self.active.clear is not None:
            self.active.clear(self.stack)
        clear_faults(self.stack)

    def redrive_dead_letters(self, dead_letters: int) -> RedriveReport:
        """The fault is gone: redrive the dead-letter queue, and wait for those executions."""
        session = boto3.session.Session(region_name=DEFAULT_REGION)
        report = redrive(
            self.wrap_client("sqs", session.client("sqs")),
            self.wrap_client("stepfunctions", session.client("stepfunctions")),
            self.engine.dead_letter_queue_url,
            self.engine.state_machine_arn,
            max_messages=max(10, dead_letters * 2),
            wait_seconds=0,
        )
        for redriven in report.started:
            if redriven.executionArn:
                arn = redriven.executionArn
                description = self.engine.wait(arn, timeout=self.execution_timeout)
                self.ledger.ended(arn, description, self.engine.history(arn), redriven=True)
        return report


def _at_once(engine: Any, due: Sequence[Delivery]) -> list[Answer]:
    """Deliver each of ``due`` from a thread of its own, all released at the same moment."""
    barrier = threading.Barrier(len(due))
    answers: list[Answer] = []
    errors: list[BaseException] = []

    def together(delivery: Delivery) -> None:
        try:
            barrier.wait()
            answers.append(deliver(engine, delivery))
        except BaseException as error:  # noqa: BLE001 - raised in the soak's thread below
            errors.append(error)

    threads = [threading.Thread(target=together, args=(d,), name="soak-copy") for d in due]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return answers


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
    sandbox_hooks: Mapping[str, Sequence[str]] | None = None,
    wrap_client: ClientWrapper | None = None,
) -> SoakResult:
    """One soak of ``workflow`` (``STANDARD`` or ``EXPRESS``, see the module docstring); ``env`` adds to the
    functions' settings (e.g. ``{"IDEMPOTENCY_TABLE": ""}`` turns idempotency off, to see the soak fail);
    ``faults`` False delivers twice without injecting any fault. A test plants a bug with
    ``sandbox_hooks`` (added to the soak's own, :class:`~local_stack.stack.LocalStack`) or ``wrap_client``
    (the boto3 clients of the redrive)."""
    workflow = workflow.upper()
    if workflow not in WORKFLOW_TYPES:
        raise ValueError(f"workflow must be one of {WORKFLOW_TYPES}, got {workflow!r}")
    started = time.monotonic()
    rng = random.Random(seed)
    generated = traffic(events, seed)
    folder = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="soak-"))
    settings = {
        "SEGMENT_TIMEOUT": str(CLIENT_TIMEOUT),
        "SEGMENT_PROFILE_API_TIMEOUT": str(CLIENT_TIMEOUT),
        "PERSONALIZE_TIMEOUT": str(CLIENT_TIMEOUT),
        **(env or {}),
    }
    hooks = {name: list(values) for name, values in (sandbox_hooks or {}).items()}
    if workflow == "EXPRESS":
        hooks["entry"] = [EXPRESS_HOOK, *hooks.get("entry", [])]
    stack = LocalStack(
        folder, items=generated.items_catalog(), env=settings, skip_retry_waits=True, sandbox_hooks=hooks
    )
    with stack:
        return Soak(
            stack,
            workflow,
            generated,
            rng,
            plan=fault_plan() if faults else [],
            seconds=seconds,
            max_in_flight=max_in_flight,
            execution_timeout=execution_timeout,
            started=started,
            say=progress or (lambda _text: None),
            wrap_client=wrap_client,
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
