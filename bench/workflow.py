"""Throughput and acknowledgement time of the workflow and of the baseline, on one local stack.

Segment's side is played by a boto3 Lambda client calling the engine's invoke server, as Segment's
destination calls Lambda's Invoke API. Every message is a known user's interaction, so every execution runs
every step (Validate, Track, Recommend, FilterTraits, SyncProfile). Before the clock starts, each message is
posted to the local Segment tracking API as the website's source would, so the Profile API finds its user.

* workflow: invoke ``entry`` (the acknowledgement Segment waits for), then wait for the execution to end;
  sequential (one event at a time) and concurrent (``concurrency`` senders).
* baseline: invoke ``bench.baseline`` (PutEvents, GetRecommendations, identify, then answer), the same way.

The workflow and the baseline each get a fresh stack and the same :class:`Workload`: the same messages in
the same order, so the local model is in the same state when each message arrives (it learns from the
events each design tracks). *moto as it comes* replays the warm-ups and the first sequential messages on a
third fresh stack, so the history check compares executions of the same messages.

Each Lambda invocation's duration is the one its REPORT line gives (the runtime's report of it, for the
cost model), with the CPU it took in its sandbox; each execution's history is read back (state
transitions, Express duration, and the history check). The functions run in sandbox processes, so a run's
CPU is this process's and the sandboxes' (read from /proc by the runtime).
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.probe import Reading, StackProbe, machine_only

#: The baseline Lambda (``bench/baseline.py``), served as ``segment-personalize-baseline``.
BASELINE = "baseline"
#: Failed sends whose error a run keeps, to show.
_ERRORS_KEPT = 3


@dataclass
class Run:
    """One timed pass: events sent, seconds, acknowledgement latencies (ms)."""

    name: str
    events: int = 0
    seconds: float = 0.0
    ack_ms: list[float] = field(default_factory=list)
    failures: int = 0
    #: the first few failed sends, ``Error: message``
    errors: list[str] = field(default_factory=list)
    #: CPU seconds of this process during the run (every thread), and of the senders (Segment's side)
    cpu_seconds: float = 0.0
    sender_cpu_seconds: float = 0.0
    #: what the probe read outside this process during the run: the sandboxes', the services process's
    #: CPU, the sandboxes started, the machine's CPU
    outside: Reading = field(default_factory=Reading)

    @property
    def per_second(self) -> float:
        """Sends that succeeded, per second: a failed send is not throughput."""
        return (self.events - self.failures) / self.seconds if self.seconds else 0.0

    @property
    def stack_cpu_seconds(self) -> float:
        """CPU seconds of the local stack: this process's without Segment's side (the senders), the
        sandboxes' and the services process's."""
        return (
            self.cpu_seconds - self.sender_cpu_seconds + self.outside.sandbox_cpu + self.outside.services_cpu
        )

    @property
    def stack_cpu_ms(self) -> float:
        """CPU ms per event of the local stack."""
        return self.stack_cpu_seconds * 1000 / self.events if self.events else 0.0

    def _per_event_ms(self, seconds: float) -> float:
        return round(seconds * 1000 / self.events, 1) if self.events else 0.0

    def shares_of_cores(self) -> dict[str, float]:
        """What the machine's cores did during the run (/proc/stat): the stack, Segment's side (the
        senders), other processes, idle; each a share of cores x seconds."""
        total = self.outside.machine_total
        if total <= 0:
            return {}
        stack, senders = self.stack_cpu_seconds / total, self.sender_cpu_seconds / total
        busy = self.outside.machine_busy / total
        return {
            "stack": round(stack, 3),
            "senders": round(senders, 3),
            "otherProcesses": round(max(0.0, busy - stack - senders), 3),
            "idle": round(1 - busy, 3),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "perSecond": round(self.per_second, 1),
            "failures": self.failures,
            "errors": self.errors,
            "stackCpuMsPerEvent": round(self.stack_cpu_ms, 1),
            "mainProcessCpuMsPerEvent": self._per_event_ms(self.cpu_seconds - self.sender_cpu_seconds),
            "sandboxCpuMsPerEvent": self._per_event_ms(self.outside.sandbox_cpu),
            "servicesCpuMsPerEvent": self._per_event_ms(self.outside.services_cpu),
            "senderCpuMsPerEvent": self._per_event_ms(self.sender_cpu_seconds),
            "sandboxesStarted": self.outside.sandboxes,
            "sharesOfCores": self.shares_of_cores(),
        }


@dataclass
class Measurements:
    """Everything measured on the stack."""

    runs: dict[str, Run] = field(default_factory=dict)
    durations_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: CPU ms of each invocation in its sandbox (every thread of the sandbox while it ran)
    handler_cpu_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    transitions: list[int] = field(default_factory=list)
    execution_ms: list[float] = field(default_factory=list)
    #: messageId -> the history shape of its execution, in the sequential workflow run
    sequential_histories: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: the warm-up runs, whose failures count like the others'
    warm_ups: dict[str, Run] = field(default_factory=dict)


@dataclass
class Workload:
    """The messages every design gets, in this order, and what the stacks are primed with."""

    #: sent one at a time, then ``warm_up_concurrent`` at the run's concurrency, before any clock starts
    warm_up: list[dict[str, Any]]
    warm_up_concurrent: list[dict[str, Any]]
    sequential: list[dict[str, Any]]
    concurrent: list[dict[str, Any]]
    items: dict[str, Any]
    identifies: list[Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [*self.warm_up, *self.warm_up_concurrent, *self.sequential, *self.concurrent]


def workload(
    sequential: int, concurrent: int, concurrency: int, seed: int = 7, warm_up: int = 10
) -> Workload:
    """``warm_up``, then ``3 x concurrency`` (to be sent ``concurrency`` at a time: every sandbox a
    concurrent run needs has its cold start), then ``sequential``, then ``concurrent`` interactions of known
    users (every step runs)."""
    warm_concurrent = 3 * concurrency if concurrency > 1 else 0
    sizes = [warm_up, warm_concurrent, sequential, concurrent]
    messages, items, identifies = every_step_messages(sum(sizes), seed)
    parts, start = [], 0
    for size in sizes:
        parts.append(messages[start : start + size])
        start += size
    warm_up_part, warm_up_concurrent, sequential_part, concurrent_part = parts
    return Workload(
        warm_up=warm_up_part,
        warm_up_concurrent=warm_up_concurrent,
        sequential=sequential_part,
        concurrent=concurrent_part,
        items=items,
        identifies=identifies,
    )


def _warm_up(send: Callable[[dict[str, Any]], float], load: Workload, concurrency: int) -> Run:
    """The warm-up, one at a time and then ``concurrency`` at a time; one run of both, whose failed sends
    count like the measured runs'."""
    one_by_one = drive("warm-up", send, load.warm_up, 1)
    together = drive("warm-up", send, load.warm_up_concurrent, concurrency)
    return Run(
        "warm-up",
        events=one_by_one.events + together.events,
        seconds=one_by_one.seconds + together.seconds,
        failures=one_by_one.failures + together.failures,
        errors=(one_by_one.errors + together.errors)[:_ERRORS_KEPT],
    )


def every_step_messages(count: int, seed: int = 7) -> tuple[list[dict[str, Any]], dict[str, Any], list[Any]]:
    """``count`` interactions of known users (unique messageIds), the item catalog, and the traffic's
    identify messages (posted first so that profiles have traits)."""
    from local_stack.traffic import generate

    traffic = generate(seed, users=60, anonymous=5, sessions_per_visitor=3)
    pool = [
        m
        for m in traffic.messages
        if isinstance(m, dict) and m.get("userId") and m.get("type") == "track" and m.get("event")
    ]
    identifies = [m for m in traffic.messages if isinstance(m, dict) and m.get("type") == "identify"]
    messages = []
    for index in range(count):
        message = json.loads(json.dumps(pool[index % len(pool)]))
        round_ = index // len(pool)
        if round_:
            message["messageId"] = f"{message['messageId']}-r{round_}"
        messages.append(message)
    return messages, traffic.items_catalog(), identifies


@contextmanager
def open_stack(data_dir: Path, items: dict[str, Any], *, fast: bool = True) -> Iterator[Any]:
    """The local stack, with the baseline function served next to the workflow's six."""
    from local_stack.stack import LocalStack

    # functions log at INFO, as deployed
    with LocalStack(
        data_dir, items=items, fast=fast, extra_functions={BASELINE: f"bench.{BASELINE}"}
    ) as stack:
        yield stack


def lambda_client(stack: Any, pool: int) -> Any:
    """A Lambda client for the invoke server, as Segment's destination would hold one."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=stack.engine.server.url,
        aws_access_key_id="segment",
        aws_secret_access_key="segment",  # noqa: S106 - the local invoke server checks no signature
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30, max_pool_connections=pool),
    )


@contextmanager
def timed_invocations(
    stack: Any, into: dict[str, list[float]], cpu: dict[str, list[float]] | None = None
) -> Iterator[None]:
    """Record each invocation's duration (ms, its REPORT line's, as Lambda bills it) and the CPU ms it took
    in its sandbox, while the block runs."""
    lock = threading.Lock()

    def record(report: Any) -> None:
        with lock:
            into[report.function].append(report.duration_ms)
            if cpu is not None:
                cpu[report.function].append(report.cpu_ms)

    unsubscribe = stack.engine.runtime.subscribe(record)
    try:
        yield
    finally:
        unsubscribe()


def _invoke(client: Any, function: str, message: dict[str, Any]) -> tuple[dict[str, Any], float]:
    from local_stack.resources import function_name

    started = time.perf_counter()
    response = client.invoke(FunctionName=function_name(function), Payload=json.dumps(message).encode())
    body = json.loads(response["Payload"].read())
    elapsed = (time.perf_counter() - started) * 1000
    if response.get("FunctionError"):
        raise RuntimeError(f"{function} failed: {body.get('errorType')}: {body.get('errorMessage')}")
    return body, elapsed


def drive(
    name: str,
    send: Callable[[dict[str, Any]], float],
    messages: list[dict[str, Any]],
    concurrency: int,
    probe: Callable[[], Reading] = machine_only,
) -> Run:
    """Send every message (``send`` returns its acknowledgement in ms), ``concurrency`` at a time;
    ``probe`` reads what the stack's other processes and the machine have used so far
    (:class:`bench.probe.StackProbe`)."""
    run = Run(name, events=len(messages))
    lock = threading.Lock()

    def one(message: dict[str, Any]) -> None:
        cpu_started = time.thread_time()
        try:
            ack = send(message)
        except Exception as error:  # noqa: BLE001 - counted and reported; the run goes on
            with lock:
                run.failures += 1
                if len(run.errors) < _ERRORS_KEPT:
                    run.errors.append(f"{type(error).__name__}: {error}"[:300])
            return
        finally:
            sender_cpu = time.thread_time() - cpu_started
            with lock:
                run.sender_cpu_seconds += sender_cpu
        with lock:
            run.ack_ms.append(ack)

    started, cpu_started, outside_started = time.perf_counter(), time.process_time(), probe()
    if concurrency <= 1:
        for message in messages:
            one(message)
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"bench-{name}") as pool:
            list(pool.map(one, messages))
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = time.process_time() - cpu_started
    run.outside = probe() - outside_started
    return run


def workflow_sender(stack: Any, client: Any, arns: dict[str, str]) -> Callable[[dict[str, Any]], float]:
    """Invoke entry, then wait for the execution it started; the acknowledgement time. ``arns`` gets the
    execution of each messageId that succeeded."""
    engine = stack.engine

    def send(message: dict[str, Any]) -> float:
        body, ack = _invoke(client, "entry", message)
        arn = body["started"][0]["executionArn"]
        description = engine.wait(arn, timeout=60)
        if description["status"] != "SUCCEEDED":
            why = f"{description.get('error', '')}: {description.get('cause', '')}"[:200]
            raise RuntimeError(f"{arn.rsplit(':', 1)[-1]} ended {description['status']} ({why})")
        arns[message["messageId"]] = arn
        return ack

    return send


def baseline_sender(client: Any) -> Callable[[dict[str, Any]], float]:
    def send(message: dict[str, Any]) -> float:
        return _invoke(client, BASELINE, message)[1]

    return send


def history_shape(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(event type, state name or "") of each history event: what the history check compares."""
    shape = []
    for event in history:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        shape.append((str(event["type"]), str(details.get("name", ""))))
    return shape


def transitions_of(history: list[dict[str, Any]]) -> int:
    """State transitions as Step Functions bills them: each state entered, and each retry of a task."""
    entered = sum(1 for event in history if str(event["type"]).endswith("StateEntered"))
    tasks = sum(1 for event in history if event["type"] == "TaskStateEntered")
    attempts = sum(1 for event in history if event["type"] == "LambdaFunctionScheduled")
    return entered + max(0, attempts - tasks)


def execution_ms(history: list[dict[str, Any]]) -> float:
    """From ExecutionStarted to the execution's end, as Express bills duration."""
    stamps = [event["timestamp"] for event in history]
    first, last = stamps[0], stamps[-1]
    if isinstance(first, datetime) and isinstance(last, datetime):
        return (last - first).total_seconds() * 1000
    return 0.0


def measure(
    data_dir: Path,
    load: Workload,
    *,
    concurrency: int,
    progress: Callable[[str], None] = lambda _: None,
) -> Measurements:
    """The workflow, then the baseline, each on a fresh stack with the same messages: the warm-ups,
    sequential, concurrent.

    Each stack is warmed up first, one at a time, then ``concurrency`` at a time, so that every sandbox a
    concurrent run needs has had its cold start before the clock starts (cold starts are measured on their
    own, in fresh interpreters: :mod:`bench.coldstart`).
    """
    measured = Measurements()
    with open_stack(data_dir / "workflow", load.items) as stack:
        client = _primed(stack, load, concurrency)
        arns: dict[str, str] = {}
        workflow = workflow_sender(stack, client, arns)
        measured.warm_ups["workflowWarmUp"] = _warm_up(workflow, load, concurrency)
        arns.clear()
        cpu = StackProbe(stack)
        progress("workflow, sequential")
        with timed_invocations(stack, measured.durations_ms, measured.handler_cpu_ms):
            measured.runs["workflowSequential"] = drive("workflow", workflow, load.sequential, 1, cpu)
        sequential_arns = dict(arns)
        progress("workflow, concurrent")
        measured.runs["workflowConcurrent"] = drive("workflow", workflow, load.concurrent, concurrency, cpu)
        # the executions that succeeded: drive counts the others as failed sends
        for message_id, arn in sequential_arns.items():
            history = stack.engine.history(arn)
            measured.sequential_histories[message_id] = history_shape(history)
            measured.transitions.append(transitions_of(history))
            measured.execution_ms.append(execution_ms(history))
    with open_stack(data_dir / "baseline", load.items) as stack:
        baseline = baseline_sender(_primed(stack, load, concurrency))
        cpu = StackProbe(stack)
        measured.warm_ups["baselineWarmUp"] = _warm_up(baseline, load, concurrency)
        progress("baseline, sequential")
        with timed_invocations(stack, measured.durations_ms):
            measured.runs["baselineSequential"] = drive("baseline", baseline, load.sequential, 1, cpu)
        progress("baseline, concurrent")
        measured.runs["baselineConcurrent"] = drive("baseline", baseline, load.concurrent, concurrency, cpu)
    return measured


def _primed(stack: Any, load: Workload, concurrency: int) -> Any:
    """Post the identifies and every message to the local Segment, as the website's source would (so the
    Profile API knows each user); a Lambda client for Segment's side."""
    for message in [*load.identifies, *load.messages]:
        stack.send_to_segment(message)
    return lambda_client(stack, max(concurrency, 1) * 2)


@dataclass
class MotoAsItComes:
    """The same events through moto's interpreter without the engine's speed-ups."""

    run: Run
    #: messageId -> history shape
    histories: dict[str, list[tuple[str, str]]]
    warm_up: Run


def measure_unpatched(data_dir: Path, load: Workload, count: int) -> MotoAsItComes:
    """On a fresh stack with ``fast=False`` (moto as it comes): the warm-up messages, then the first
    ``count`` sequential messages, as the workflow's sequential run gets them; their history shapes.

    Every message goes one at a time, the concurrent warm-up's too, so the local model has learnt from the
    same events when the compared messages arrive: moto as it comes does not keep up with the concurrent
    warm-up (StartExecution times out in entry, and the executions it did start still run, retrying, into
    the measured run).
    """
    with open_stack(data_dir, load.items, fast=False) as stack:
        arns: dict[str, str] = {}
        sender = workflow_sender(stack, _primed(stack, load, 1), arns)
        warm_up = _warm_up(sender, load, 1)
        arns.clear()
        run = drive("moto as it comes", sender, load.sequential[:count], 1, StackProbe(stack))
        histories = {message_id: history_shape(stack.engine.history(arn)) for message_id, arn in arns.items()}
        return MotoAsItComes(run, histories, warm_up)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
