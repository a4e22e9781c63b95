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
from pathlib import Path
from typing import Any, TextIO

import boto3

from cli.redrive import redrive
from local_stack.destination import classify
from local_stack.run_store import ExecutionRecord
from local_stack.stack import LocalStack
from local_stack.stepfunctions.engine import DEFAULT_REGION
from soak.deliveries import deliver, deliveries, traffic_messages
from soak.faults import CLIENT_TIMEOUT, FaultStep, _personalize, _segment, count_answers, fault_plan
from soak.figures import SoakResult, expectations, ground_truth
from soak.report import print_result

WORKFLOW_TYPES = ("STANDARD", "EXPRESS")
#: History events of a failed step attempt.
_STEP_FAILURES = frozenset({"LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed", "TaskTimedOut"})

Progress = Callable[[str], None]


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
    say = progress or (lambda _text: None)
    started = time.monotonic()
    rng = random.Random(seed)
    messages, catalog = traffic_messages(events, seed)
    schedule, out_of_order = deliveries(messages, rng)
    folder = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="soak-"))
    settings = {
        "SEGMENT_TIMEOUT": str(CLIENT_TIMEOUT),
        "SEGMENT_PROFILE_API_TIMEOUT": str(CLIENT_TIMEOUT),
        "PERSONALIZE_TIMEOUT": str(CLIENT_TIMEOUT),
        **(env or {}),
    }
    with LocalStack(folder, items=catalog, env=settings, skip_retry_waits=True) as stack:
        engine = stack.engine
        assert engine is not None
        fault_answers: Counter[str] = Counter()
        count_answers(_personalize(stack).faults, fault_answers, "Personalize", lambda f: f.error or "slow")
        count_answers(_segment(stack).faults, fault_answers, "Segment", lambda f: str(f.status or "slow"))

        # 1. the source: Segment receives every message before its destination does
        refused: dict[int, str] = {}
        for index, message in enumerate(messages):
            reason = stack.send_to_segment(message)
            if reason:
                refused[index] = reason

        # 2 and 3. deliveries, twice each, with the fault plan
        plan = fault_plan() if faults else []
        applied: list[str] = []
        active: FaultStep | None = None
        pending: deque[str] = deque()
        executions: dict[str, int] = {}  # execution ARN -> message index
        first_arn: dict[int, str] = {}
        entry_rejections: dict[int, str] = {}
        redeliveries = delivered = 0
        stopped_early = False
        delivered_first: set[int] = set()
        descriptions: dict[str, dict[str, Any]] = {}  # execution ARN -> its description once it ended

        def finish(arn: str) -> None:
            descriptions[arn] = engine.wait(arn, timeout=execution_timeout)

        say(f"{workflow}: {len(messages)} messages, {len(schedule)} deliveries")
        for position, delivery in enumerate(schedule):
            fraction = position / len(schedule)
            if active is not None and active.until is not None and fraction >= active.until:
                while pending:  # every execution started during the outage meets it
                    finish(pending.popleft())
                assert active.clear is not None
                active.clear(stack)
                say(f"  {time.monotonic() - started:6.1f} s  {position:>5}/{len(schedule)} fault off")
                active = None
            while plan and fraction >= plan[0].at and (active is None or plan[0].until is None):
                step = plan.pop(0)
                step.action(stack)
                applied.append(step.label)
                elapsed = time.monotonic() - started
                say(f"  {elapsed:6.1f} s  {position:>5}/{len(schedule)} fault on: {step.label}")
                if step.until is not None:
                    active = step
            if delivery.copy == 0 and time.monotonic() - started > seconds:
                stopped_early = True  # out of time: no new messages, but every copy still comes
                continue
            if delivery.copy == 1 and delivery.index not in delivered_first:
                continue
            if delivery.index in refused:
                delivered_first.add(delivery.index)
                continue
            delivered += 1
            arn = deliver(engine, delivery, workflow, entry_rejections)
            delivered_first.add(delivery.index)
            if arn is None:
                continue
            if delivery.copy == 1:
                redeliveries += 1
            if arn in executions:
                continue  # the same execution: Step Functions deduplicated the redelivery
            executions[arn] = delivery.index
            first_arn.setdefault(delivery.index, arn)
            pending.append(arn)
            while len(pending) >= max_in_flight:
                finish(pending.popleft())
        while pending:
            finish(pending.popleft())
        if active is not None and active.clear is not None:
            active.clear(stack)
        _personalize(stack).faults.clear()
        _segment(stack).faults.clear()

        # what happened, per execution
        recovered = sum(
            1
            for arn, d in descriptions.items()
            if d["status"] == "SUCCEEDED" and any(e["type"] in _STEP_FAILURES for e in engine.history(arn))
        )
        retries = len(engine.retry_waits)

        # ground truth: what Validate's logic expects of each distinct accepted message
        expected, ignored, rejected = expectations(engine, messages, first_arn, refused, entry_rejections)
        for arn, description in descriptions.items():
            outcome, reason, *_ = classify(ExecutionRecord.from_description(arn, description))
            if outcome == "rejected" and arn == first_arn.get(executions[arn]):
                rejected[f"workflow: {reason}"] += 1
        before = ground_truth(stack, expected)
        say(f"  drained in {time.monotonic() - started:.1f} s; {before.dead_letters} dead letters; redrive")

        # 4. the fault is gone: redrive, and wait for those executions
        session = boto3.session.Session(region_name=DEFAULT_REGION)
        report = redrive(
            session.client("sqs"),
            session.client("stepfunctions"),
            engine.dead_letter_queue_url,
            engine.state_machine_arn,
            max_messages=max(10, before.dead_letters * 2),
            wait_seconds=0,
        )
        for redriven in report.started:
            if redriven.executionArn:
                engine.wait(redriven.executionArn, timeout=execution_timeout)
        after = ground_truth(stack, expected)
        identify_repeats = sum(int(m.get("duplicates") or 0) for m in _segment(stack).message_log("identify"))
        return SoakResult(
            workflow=workflow,
            messages=len(delivered_first),
            deliveries=delivered,
            out_of_order=out_of_order,
            accepted=len(first_arn),
            redeliveries=redeliveries,
            ignored=ignored,
            expected_interactions=len(expected),
            rejected=rejected,
            retries=retries,
            recovered_by_retries=recovered,
            faults=applied,
            fault_answers=fault_answers,
            before=before,
            after=after,
            redrive=report,
            identify_repeats=identify_repeats,
            seconds=time.monotonic() - started,
            stopped_early=stopped_early,
            notes=[
                "retry waits skipped (skip_retry_waits): every retry runs, none sleeps",
                f"client timeouts {CLIENT_TIMEOUT:g} s (SEGMENT_TIMEOUT, SEGMENT_PROFILE_API_TIMEOUT, "
                "PERSONALIZE_TIMEOUT); the Personalize clients keep their one SDK retry, as deployed",
            ],
        )


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
