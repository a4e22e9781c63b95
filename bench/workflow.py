"""Throughput and acknowledgement time of the workflow and of the baseline, on one local stack.

Segment's side is played by a boto3 Lambda client calling the engine's invoke server, as Segment's
destination calls Lambda's Invoke API. Every message is a known user's interaction, so every execution runs
every step (Validate, Track, Recommend, FilterTraits, SyncProfile). Before the clock starts, each message is
posted to the local Segment tracking API as the website's source would, so the Profile API finds its user.

* workflow: invoke ``entry`` (the acknowledgement Segment waits for), then wait for the execution to end;
  sequential (one event at a time) and concurrent (``concurrency`` senders).
* baseline: invoke ``bench.baseline`` (PutEvents, GetRecommendations, identify, then answer), the same way.

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

#: The baseline Lambda (``bench/baseline.py``), served as ``segment-personalize-baseline``.
BASELINE = "baseline"


@dataclass
class Run:
    """One timed pass: events sent, seconds, acknowledgement latencies (ms)."""

    name: str
    events: int = 0
    seconds: float = 0.0
    ack_ms: list[float] = field(default_factory=list)
    failures: int = 0
    #: CPU seconds of the whole process during the run (every thread), of the senders (Segment's side), and
    #: of the functions' sandbox processes
    cpu_seconds: float = 0.0
    sender_cpu_seconds: float = 0.0
    sandbox_cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def stack_cpu_ms(self) -> float:
        """CPU ms per event of the local stack: the process's CPU without Segment's side (the senders), and
        the sandboxes'."""
        if not self.events:
            return 0.0
        return (self.cpu_seconds - self.sender_cpu_seconds + self.sandbox_cpu_seconds) * 1000 / self.events

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "perSecond": round(self.per_second, 1),
            "failures": self.failures,
            "stackCpuMsPerEvent": round(self.stack_cpu_ms, 1),
            "sandboxCpuMsPerEvent": round(self.sandbox_cpu_seconds * 1000 / self.events, 1)
            if self.events
            else 0,
            "senderCpuMsPerEvent": round(self.sender_cpu_seconds * 1000 / self.events, 1)
            if self.events
            else 0,
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
    sequential_histories: list[list[tuple[str, str]]] = field(default_factory=list)


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
    sandbox_cpu: Callable[[], float] = lambda: 0.0,
) -> Run:
    """Send every message (``send`` returns its acknowledgement in ms), ``concurrency`` at a time;
    ``sandbox_cpu`` gives the CPU seconds the functions' sandboxes have used so far."""
    run = Run(name, events=len(messages))
    lock = threading.Lock()

    def one(message: dict[str, Any]) -> None:
        cpu_started = time.thread_time()
        try:
            ack = send(message)
        except Exception:  # noqa: BLE001 - counted and reported; the run goes on
            with lock:
                run.failures += 1
            return
        finally:
            sender_cpu = time.thread_time() - cpu_started
            with lock:
                run.sender_cpu_seconds += sender_cpu
        with lock:
            run.ack_ms.append(ack)

    started, cpu_started, sandbox_started = time.perf_counter(), time.process_time(), sandbox_cpu()
    if concurrency <= 1:
        for message in messages:
            one(message)
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"bench-{name}") as pool:
            list(pool.map(one, messages))
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = time.process_time() - cpu_started
    run.sandbox_cpu_seconds = sandbox_cpu() - sandbox_started
    return run


def workflow_sender(stack: Any, client: Any, arns: list[str]) -> Callable[[dict[str, Any]], float]:
    """Invoke entry, then wait for the execution it started; the acknowledgement time."""
    engine = stack.engine

    def send(message: dict[str, Any]) -> float:
        body, ack = _invoke(client, "entry", message)
        arn = body["started"][0]["executionArn"]
        description = engine.wait(arn, timeout=60)
        if description["status"] != "SUCCEEDED":
            raise RuntimeError(f"{arn} ended {description['status']}")
        arns.append(arn)
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
    *,
    sequential: int,
    concurrent: int,
    concurrency: int,
    seed: int = 7,
    warmup: int = 10,
    progress: Callable[[str], None] = lambda _: None,
) -> Measurements:
    """Every run on one stack: workflow and baseline, sequential and concurrent.

    Each is warmed up first, one at a time, then ``concurrency`` at a time (``3 x concurrency`` events), so
    that every sandbox a concurrent run needs has had its cold start before the clock starts (cold starts
    are measured on their own, in fresh interpreters: :mod:`bench.coldstart`).
    """
    warm_concurrent = 3 * concurrency if concurrency > 1 else 0
    sizes = [warmup, warmup, warm_concurrent, warm_concurrent, *[sequential, concurrent] * 2]
    messages, items, identifies = every_step_messages(sum(sizes), seed)
    batches = iter([messages[i : i + n] for i, n in _slices(sizes)])
    measured = Measurements()
    with open_stack(data_dir, items) as stack:
        for message in identifies + messages:
            stack.send_to_segment(message)
        client = lambda_client(stack, max(concurrency, 1) * 2)
        arns: list[str] = []
        workflow = workflow_sender(stack, client, arns)
        baseline = baseline_sender(client)
        drive("warm-up", workflow, next(batches), 1)
        drive("warm-up", baseline, next(batches), 1)
        drive("warm-up", workflow, next(batches), concurrency)
        drive("warm-up", baseline, next(batches), concurrency)
        arns.clear()
        cpu = stack.engine.runtime.cpu_seconds
        progress("workflow, sequential")
        with timed_invocations(stack, measured.durations_ms, measured.handler_cpu_ms):
            measured.runs["workflowSequential"] = drive("workflow", workflow, next(batches), 1, cpu)
        sequential_arns = list(arns)
        arns.clear()
        progress("workflow, concurrent")
        measured.runs["workflowConcurrent"] = drive("workflow", workflow, next(batches), concurrency, cpu)
        progress("baseline, sequential")
        with timed_invocations(stack, measured.durations_ms):
            measured.runs["baselineSequential"] = drive("baseline", baseline, next(batches), 1, cpu)
        progress("baseline, concurrent")
        measured.runs["baselineConcurrent"] = drive("baseline", baseline, next(batches), concurrency, cpu)
        for arn in sequential_arns:  # a run's failures (not SUCCEEDED) are counted by drive
            history = stack.engine.history(arn)
            measured.sequential_histories.append(history_shape(history))
            measured.transitions.append(transitions_of(history))
            measured.execution_ms.append(execution_ms(history))
    return measured


def _slices(sizes: list[int]) -> list[tuple[int, int]]:
    start, out = 0, []
    for size in sizes:
        out.append((start, size))
        start += size
    return out


@dataclass
class MotoAsItComes:
    """The same events through moto's interpreter without the engine's speed-ups."""

    run: Run
    histories: list[list[tuple[str, str]]]


def measure_unpatched(data_dir: Path, messages: list[dict[str, Any]], items: dict[str, Any]) -> MotoAsItComes:
    """Sequential workflow runs with ``fast=False`` (moto as it comes); their history shapes."""
    with open_stack(data_dir, items, fast=False) as stack:
        for message in messages:
            stack.send_to_segment(message)
        client = lambda_client(stack, 2)
        arns: list[str] = []
        sender = workflow_sender(stack, client, arns)
        drive("warm-up", sender, messages[:2], 1)
        arns.clear()
        run = drive("moto as it comes", sender, messages[2:], 1, stack.engine.runtime.cpu_seconds)
        return MotoAsItComes(run, [history_shape(stack.engine.history(arn)) for arn in arns])


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
