"""Soak: generated traffic, every message delivered twice, faults on the local services, then a redrive.

What one soak does, on a fresh :class:`~local_stack.stack.LocalStack` (loopback only, bounded in count and
time):

1. Generates seeded Segment traffic (:mod:`local_stack.traffic`) and posts it to the local Segment tracking
   API as the website's source would (before any fault is on, so that profile traits exist).
2. Delivers every message to the workflow **twice**, as Segment's destination retries do: the second copy
   comes later, a few deliveries on or many, so that copies overtake each other (out of order).
3. Meanwhile injects faults on the local services, following :func:`fault_plan`: Personalize PutEvents
   ``ThrottlingException``, GetRecommendations 500s, Segment Profile API 429/503, tracking API 503, and
   responses slower than the clients' timeouts (the soak lowers them through the functions' own settings:
   ``SEGMENT_TIMEOUT``, ``SEGMENT_PROFILE_API_TIMEOUT``, ``PERSONALIZE_TIMEOUT``). Short bursts are
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cli.redrive import RedriveReport, redrive
from local_stack.destination import classify
from local_stack.lambda_runtime.invoker import InvocationError
from local_stack.resources import DEFAULT_REGION
from local_stack.run_store import ExecutionRecord
from local_stack.stack import LocalStack
from local_stack.traffic import generate

WORKFLOW_TYPES = ("STANDARD", "EXPRESS")
#: Client timeouts during a soak (seconds) and how much slower the injected slow answers are.
CLIENT_TIMEOUT = 1.0
SLOW_ANSWER = 1.6
#: An outage is a fault with a count no run reaches; it ends when cleared.
OUTAGE = 10**6
REDELIVERY_SUFFIX = "-redelivery"
#: History events of a failed step attempt.
_STEP_FAILURES = frozenset({"LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed", "TaskTimedOut"})

Progress = Callable[[str], None]


# --- the fault plan ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaultStep:
    """At ``at`` (a fraction of the deliveries), do ``action``. An outage lasts until ``until``; then the
    soak waits for the executions started meanwhile (so each meets the outage) and ends it with ``clear``."""

    at: float
    label: str
    action: Callable[[LocalStack], None]
    until: float | None = None
    clear: Callable[[LocalStack], None] | None = None


def _personalize(stack: LocalStack) -> Any:
    assert stack.personalize is not None
    return stack.personalize


def _segment(stack: LocalStack) -> Any:
    assert stack.segment is not None
    return stack.segment


def fault_plan() -> list[FaultStep]:
    """Short bursts the retries absorb, slow answers, then four outages that outlast the retries."""

    def p(operation: str, error: str | None, count: int, delay: float = 0.0) -> Callable[[LocalStack], None]:
        return lambda s: _personalize(s).faults.add(operation, error, count=count, delay_seconds=delay)

    def g(api: str, status: int | None, count: int, delay: float = 0.0) -> Callable[[LocalStack], None]:
        return lambda s: _segment(s).faults.add(api, status=status, count=count, delay_seconds=delay)

    def both(*actions: Callable[[LocalStack], None]) -> Callable[[LocalStack], None]:
        def apply(s: LocalStack) -> None:
            for action in actions:
                action(s)

        return apply

    def clear_personalize(s: LocalStack) -> None:
        injector = _personalize(s).faults
        for fault in _end_outages(injector):
            injector.add(**{k: v for k, v in fault.items() if k != "message"})

    def clear_segment(s: LocalStack) -> None:
        injector = _segment(s).faults
        for fault in _end_outages(injector):
            injector.add_from_dict({k: v for k, v in fault.items() if v is not None})

    return [
        FaultStep(0.04, "PutEvents ThrottlingException x3", p("PutEvents", "ThrottlingException", 3)),
        FaultStep(0.08, "GetRecommendations 500 x3", p("GetRecommendations", "InternalServerError", 3)),
        FaultStep(0.12, "Profile API 429 x2 then 503 x2", both(g("profile", 429, 2), g("profile", 503, 2))),
        FaultStep(0.16, "tracking API 503 x3", g("tracking", 503, 3)),
        FaultStep(
            0.20,
            f"answers slower than the {CLIENT_TIMEOUT:g} s client timeouts ({SLOW_ANSWER:g} s), one each: "
            "Profile API, tracking API (applied late), GetRecommendations, PutEvents (not applied)",
            both(
                g("profile", None, 1, SLOW_ANSWER),
                g("tracking", None, 1, SLOW_ANSWER),
                p("GetRecommendations", None, 1, SLOW_ANSWER),
                p("PutEvents", "ServiceUnavailableException", 1, SLOW_ANSWER),
            ),
        ),
        FaultStep(
            0.28,
            "outage: PutEvents ThrottlingException",
            p("PutEvents", "ThrottlingException", OUTAGE),
            until=0.36,
            clear=clear_personalize,
        ),
        FaultStep(
            0.46,
            "outage: GetRecommendations 500",
            p("GetRecommendations", "InternalServerError", OUTAGE),
            until=0.52,
            clear=clear_personalize,
        ),
        FaultStep(
            0.62, "outage: Profile API 503", g("profile", 503, OUTAGE), until=0.68, clear=clear_segment
        ),
        FaultStep(
            0.78, "outage: tracking API 503", g("tracking", 503, OUTAGE), until=0.84, clear=clear_segment
        ),
    ]


def _end_outages(injector: Any) -> list[dict[str, Any]]:
    """Drop every pending fault; the ones that were not outages, to be queued again."""
    pending = [fault for fault in injector.pending() if fault["count"] < OUTAGE // 2]
    injector.clear()
    return pending


# --- deliveries ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    index: int  # the message's position in the traffic
    copy: int  # 0 first delivery, 1 the redelivery
    message: Any


def deliveries(messages: list[Any], rng: random.Random) -> tuple[list[Delivery], int]:
    """Every message twice: the copy a few deliveries later (70 %) or many (30 %). Returns the schedule and
    how many copies arrive out of order (before the copy of a message that was first delivered earlier)."""
    slots: list[tuple[float, int, Delivery]] = []
    for index, message in enumerate(messages):
        slots.append((float(index), 0, Delivery(index, 0, message)))
        lag = rng.randint(1, 6) if rng.random() < 0.7 else rng.randint(15, 60)
        slots.append((index + lag + rng.random(), 1, Delivery(index, 1, message)))
    slots.sort(key=lambda slot: (slot[0], slot[1]))
    schedule = [slot[2] for slot in slots]
    copies = [d.index for d in schedule if d.copy == 1]
    overtaken = sum(1 for i, later in enumerate(copies[1:], 1) if later < max(copies[:i]))
    return schedule, overtaken


# --- results -----------------------------------------------------------------------------------------------
@dataclass
class Figures:
    """Ground-truth figures at one moment (before or after the redrive)."""

    tracked_once: int
    tracked_twice: int
    lost: int
    unexpected: int
    dead_letters: int
    dead_letter_causes: Counter[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "trackedExactlyOnce": self.tracked_once,
            "trackedTwice": self.tracked_twice,
            "lost": self.lost,
            "unexpected": self.unexpected,
            "deadLettered": self.dead_letters,
            "deadLetterCauses": dict(self.dead_letter_causes),
        }


@dataclass
class SoakResult:
    workflow: str
    messages: int
    deliveries: int
    out_of_order: int
    accepted: int
    redeliveries: int
    ignored: int
    expected_interactions: int
    rejected: Counter[str]
    retries: int
    recovered_by_retries: int
    faults: list[str]
    fault_answers: Counter[str]
    before: Figures
    after: Figures
    redrive: RedriveReport
    identify_repeats: int
    seconds: float
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(
            f.lost == 0 and f.tracked_twice == 0 and f.unexpected == 0 for f in (self.before, self.after)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "messages": self.messages,
            "deliveries": self.deliveries,
            "copiesOutOfOrder": self.out_of_order,
            "accepted": self.accepted,
            "redeliveries": self.redeliveries,
            "ignored": self.ignored,
            "expectedInteractions": self.expected_interactions,
            "rejected": dict(self.rejected),
            "retries": self.retries,
            "recoveredByRetries": self.recovered_by_retries,
            "faults": self.faults,
            "faultAnswers": dict(self.fault_answers),
            "beforeRedrive": self.before.as_json(),
            "afterRedrive": self.after.as_json(),
            "redrive": self.redrive.as_json(),
            "identifyRepeats": self.identify_repeats,
            "seconds": round(self.seconds, 1),
            "stoppedEarly": self.stopped_early,
            "notes": self.notes,
            "ok": self.ok,
        }


# --- the soak ----------------------------------------------------------------------------------------------
def traffic_messages(events: int, seed: int) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """At least ``events`` generated messages: the whole traffic of just enough visitors (not cut: a visitor's
    second session, the identified one, comes last), and the product catalog."""
    users = max(1, events // 30)
    while True:
        traffic = generate(seed, users=users, anonymous=users // 4, sessions_per_visitor=2, malformed=5)
        if len(traffic.messages) >= events:
            return traffic.messages, traffic.items_catalog()
        users += 1


def _counting(injector: Any, counter: Counter[str], name: str, key: Callable[[Any], str]) -> None:
    """Count the faults an injector hands out (an instance attribute shadows its ``take``)."""
    take = injector.take

    def counted(operation: str) -> Any:
        fault = take(operation)
        if fault is not None:
            counter[f"{name} {operation}: {key(fault)}"] += 1
        return fault

    injector.take = counted


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
        _counting(_personalize(stack).faults, fault_answers, "Personalize", lambda f: f.error or "slow")
        _counting(_segment(stack).faults, fault_answers, "Segment", lambda f: str(f.status or "slow"))

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
            arn = _deliver(engine, delivery, workflow, entry_rejections)
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
        expected, ignored, rejected = _expectations(engine, messages, first_arn, refused, entry_rejections)
        for arn, description in descriptions.items():
            outcome, reason, *_ = classify(ExecutionRecord.from_description(arn, description))
            if outcome == "rejected" and arn == first_arn.get(executions[arn]):
                rejected[f"workflow: {reason}"] += 1
        before = _figures(stack, expected)
        say(f"  drained in {time.monotonic() - started:.1f} s; {before.dead_letters} dead letters; redrive")

        # 4. the fault is gone: redrive, and wait for those executions
        import boto3

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
        after = _figures(stack, expected)
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


def _deliver(engine: Any, delivery: Delivery, workflow: str, entry_rejections: dict[int, str]) -> str | None:
    """Hand one delivery to the workflow; the execution ARN, or None when the entry function refused it."""
    from segment_personalize.executions import suffixed_execution_name

    message = delivery.message
    if workflow == "EXPRESS" and delivery.copy == 1:
        if delivery.index in entry_rejections:
            return None  # the entry function refuses the copy as it refused the first
        return str(engine.start(message, suffixed_execution_name(message["messageId"], REDELIVERY_SUFFIX)))
    try:
        answer = engine.deliver(message)
    except InvocationError as error:
        entry_rejections[delivery.index] = f"entry: {error}"
        return None
    (started,) = answer["started"]
    return str(started["executionArn"])


def _expectations(
    engine: Any,
    messages: list[Any],
    first_arn: dict[int, str],
    refused: dict[int, str],
    entry_rejections: dict[int, str],
) -> tuple[dict[str, str], int, Counter[str]]:
    """(expected eventId -> messageId, ignored messages, rejections by reason before any execution)."""
    from segment_personalize.errors import InvalidSegmentEvent
    from segment_personalize.interactions import validate_payload

    settings = engine.functions["validate"].settings  # the deployed Validate's own settings
    expected: dict[str, str] = {}
    ignored = 0
    rejected: Counter[str] = Counter()
    for reason in refused.values():
        rejected[f"Segment: {reason}"] += 1
    for reason in entry_rejections.values():
        rejected[reason] += 1
    for index in first_arn:
        message = messages[index]
        try:
            result = validate_payload({"messageId": message["messageId"], "event": message}, settings)
        except InvalidSegmentEvent:
            continue  # counted from the execution's Rejected output
        if result.status == "ignored":
            ignored += 1
        for interaction in result.interactions:
            expected[interaction.event_id] = message["messageId"]
    return expected, ignored, rejected


def _figures(stack: LocalStack, expected: dict[str, str]) -> Figures:
    engine = stack.engine
    assert engine is not None
    stored = Counter(str(row["event_id"]) for row in _personalize(stack).query("SELECT event_id FROM events"))
    letters = engine.dead_letters()
    dead_message_ids = {letter.get("messageId") for letter in letters}
    causes = Counter(
        f"{letter.get('failedState')}: {(letter.get('error') or {}).get('Error')}" for letter in letters
    )
    in_dead_letters = {event_id for event_id, mid in expected.items() if mid in dead_message_ids}
    return Figures(
        tracked_once=sum(1 for event_id in expected if stored.get(event_id) == 1),
        tracked_twice=sum(1 for count in stored.values() if count > 1),
        lost=sum(1 for event_id in expected if event_id not in stored and event_id not in in_dead_letters),
        unexpected=sum(1 for event_id in stored if event_id not in expected),
        dead_letters=len(letters),
        dead_letter_causes=causes,
    )


# --- printing -----------------------------------------------------------------------------------------------
def print_result(result: SoakResult, out: TextIO | None = None) -> None:
    """The figures, as ``make soak`` prints them (to ``out``, standard output by default)."""
    out = out or sys.stdout

    def p(text: str = "") -> None:
        print(text, file=out)

    emulation = (
        "redeliveries deduplicated by execution name"
        if result.workflow == "STANDARD"
        else "redeliveries started as executions of their own (EXPRESS emulated: no name dedupe)"
    )
    p(
        f"== soak {result.workflow}: {result.seconds:.1f} s"
        + ("  (stopped early: time)" if result.stopped_early else "")
    )
    for note in result.notes:
        p(f"note: {note}")
    p(
        f"messages              {result.messages} distinct, {result.deliveries} deliveries "
        f"(each twice; {result.out_of_order} copies out of order)"
    )
    p(f"accepted              {result.accepted}  executions started by the entry function")
    p(f"  redeliveries        {result.redeliveries}  {emulation}")
    p(f"  ignored             {result.ignored}  valid, not interactions")
    p(f"  interactions        {result.expected_interactions}  eventIds expected (Validate's logic on each)")
    p(f"rejected              {sum(result.rejected.values())}")
    for reason, count in result.rejected.most_common():
        p(f"  {count:>5}  {reason[:150]}")
    p(f"faults                {sum(result.fault_answers.values())} answers")
    for label in result.faults:
        p(f"        on: {label}")
    for what, count in sorted(result.fault_answers.items()):
        p(f"  {count:>5}  {what}")
    p(
        f"retries               {result.retries}  (waits skipped: skip_retry_waits); "
        f"{result.recovered_by_retries} executions succeeded after a failed attempt"
    )
    p(f"{'':22}{'before redrive':>16}{'after redrive':>16}")
    b, a = result.before, result.after
    p(f"{'tracked exactly once':<22}{b.tracked_once:>16}{a.tracked_once:>16}")
    p(f"{'dead-lettered':<22}{b.dead_letters:>16}{a.dead_letters:>16}")
    for cause, count in b.dead_letter_causes.most_common():
        p(f"  {count:>5}  {cause}")
    for cause, count in a.dead_letter_causes.most_common():
        p(f"  {count:>5}  {cause}  (after redrive)")
    p(f"{'lost':<22}{b.lost:>16}{a.lost:>16}   must be 0")
    p(f"{'tracked twice':<22}{b.tracked_twice:>16}{a.tracked_twice:>16}   must be 0")
    if b.unexpected or a.unexpected:
        p(f"{'unexpected eventIds':<22}{b.unexpected:>16}{a.unexpected:>16}   must be 0")
    statuses = Counter(r.status for r in result.redrive.redriven)
    p(
        f"redrive               {result.redrive.received} received, {statuses.get('started', 0)} started, "
        f"{statuses.get('already_started', 0)} already started, {len(result.redrive.left)} left in the queue"
    )
    p(f"identify repeats      {result.identify_repeats}  reached Segment again, deduplicated by messageId")
    p(f"result                {'ok' if result.ok else 'FAILED'}")


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
