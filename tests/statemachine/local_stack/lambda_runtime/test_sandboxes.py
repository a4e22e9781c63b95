"""The process runtime as Lambda runs functions: concurrent invocations in separate sandboxes, globals of one
sandbox its own, a throttle past a function's concurrency, an invocation stopped at its timeout.

One local stack in process mode (real local Personalize and Segment, moto through its server), with the
handlers of Validate, Track and FilterTraits wrapped in every sandbox by ``sandbox_hooks.py``, which records
each invocation to a file and slows, hangs or holds one on demand.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_stack.lambda_runtime.invoker import InvocationError
from local_stack.lambda_runtime.process_runtime import ProcessRuntime
from local_stack.lambda_runtime.reports import InvocationReport
from local_stack.resources import function_name
from local_stack.stack import LocalStack
from local_stack.stepfunctions.engine import LocalEngine
from tests.events import load_event
from tests.statemachine.local_stack.lambda_runtime.sandbox_hooks import (
    HOOK,
    RECORD_VARIABLE,
    SLOW_SECONDS,
    message_id,
    read_records,
)

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(120)]

TRACK_TIMEOUT = 2.0
TIMED_OUT = f"{TRACK_TIMEOUT:.2f} seconds"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("sandboxes")
    with LocalStack(
        folder,
        skip_retry_waits=True,
        env={RECORD_VARIABLE: str(folder / "record.jsonl")},
        sandbox_hooks={name: [HOOK] for name in ("validate", "track", "filter_traits")},
        function_timeouts={"track": TRACK_TIMEOUT},
        concurrency={"filter_traits": 1},
    ) as running:
        yield running


@pytest.fixture
def engine(stack: LocalStack) -> LocalEngine:
    assert stack.engine is not None
    return stack.engine


@pytest.fixture
def record(stack: LocalStack) -> Path:
    return Path(stack.extra_env[RECORD_VARIABLE])


def _validate_payload(message_id_: str) -> dict[str, Any]:
    return {"messageId": message_id_, "event": {**load_event("page"), "messageId": message_id_}}


def _runtime(engine: LocalEngine) -> ProcessRuntime:
    assert isinstance(engine.runtime, ProcessRuntime)
    return engine.runtime


def test_two_slow_invocations_of_one_function_run_at_once_in_two_sandboxes(
    engine: LocalEngine, record: Path
) -> None:
    def invoke_pair(name: str) -> tuple[list[Any], float]:
        payloads = [_validate_payload(message_id("slow", "validate", f"{name}-{i}")) for i in range(2)]
        started = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda payload: engine.invoke("validate", payload), payloads))
        return results, time.perf_counter() - started

    invoke_pair("warm")  # the second sandbox's cold start
    results, elapsed = invoke_pair("pair")

    assert [result["status"] for result in results] == ["ignored", "ignored"]
    pair = sorted(
        (r for r in read_records(record) if ".pair-" in r["messageId"]), key=lambda r: float(r["started"])
    )
    assert len(pair) == 2
    assert pair[0]["pid"] != pair[1]["pid"]  # two sandboxes
    assert pair[1]["started"] < pair[0]["ended"]  # at the same time
    assert elapsed < 2 * SLOW_SECONDS


def test_module_globals_belong_to_one_sandbox(engine: LocalEngine, record: Path) -> None:
    for index in range(3):
        engine.invoke("validate", _validate_payload(f"globals-{index}"))

    runs = [r for r in read_records(record) if r["messageId"].startswith("globals-")]
    assert len({r["pid"] for r in runs}) == 1  # one warm sandbox, reused
    counts = [r["calls"] for r in runs]
    assert counts == list(range(counts[0], counts[0] + 3))  # its globals kept from one call to the next
    assert all(r["pid"] != os.getpid() for r in runs)
    from tests.statemachine.local_stack.lambda_runtime import sandbox_hooks

    assert sandbox_hooks.calls == 0  # this process ran none of them
    # the modules seen from here are for reading: a fake set on one would reach no sandbox
    assert engine.functions["validate"].settings is not None
    with pytest.raises(AttributeError, match="sandbox"):
        engine.functions["validate"].settings = None


def test_past_its_concurrency_a_function_is_throttled_as_lambda_does(
    stack: LocalStack, engine: LocalEngine, record: Path
) -> None:
    # given FilterTraits (concurrency 1) busy with one invocation
    holding = message_id("hold", "filter_traits", "1")
    holder = threading.Thread(target=_invoke_quietly, args=(engine, "filter_traits", {"messageId": holding}))
    holder.start()
    try:
        _wait_for(lambda: any(r["messageId"] == holding for r in read_records(record, "start")))
        # the Invoke API answers 429 TooManyRequestsException, as Lambda does
        client = boto3.client(
            "lambda",
            endpoint_url=engine.server.url,
            region_name="us-east-1",
            config=Config(retries={"total_max_attempts": 1}),
        )
        with pytest.raises(client.exceptions.TooManyRequestsException) as raised:
            client.invoke(FunctionName=function_name("filter_traits"), Payload=b"{}")
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        response: dict[str, Any] = dict(raised.value.response)
        assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        # and an execution's FilterTraits gets Lambda.TooManyRequestsException at every attempt
        message = {**load_event("track_sku"), "messageId": "throttled-1"}
        stack.send_to_segment(message)
        description = engine.run(message, timeout=60)
    finally:
        record.with_name(f"{record.name}.release").touch()
        holder.join(timeout=20)

    history = engine.history(description["executionArn"])
    errors = [
        e["lambdaFunctionFailedEventDetails"]["error"] for e in history if e["type"] == "LambdaFunctionFailed"
    ]
    assert errors == ["Lambda.TooManyRequestsException"] * 4  # the first attempt and the ASL's 3 retries
    assert description["status"] == "FAILED"  # then dead-lettered
    (letter,) = [d for d in engine.dead_letters() if d.get("messageId") == "throttled-1"]
    assert "TooManyRequestsException" in str(letter)


def test_a_function_past_its_timeout_is_stopped_and_answered_sandbox_timedout(
    stack: LocalStack, engine: LocalEngine
) -> None:
    reports: list[InvocationReport] = []
    unsubscribe = engine.runtime.subscribe(reports.append)
    try:
        with pytest.raises(InvocationError) as raised:
            engine.invoke("track", {"messageId": message_id("hang", "track", "direct")})
    finally:
        unsubscribe()

    (report,) = [r for r in reports if r.function == "track"]
    assert raised.value.payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {report.request_id} Error: Task timed out after {TIMED_OUT}",
    }
    assert report.status == "timeout"
    assert TRACK_TIMEOUT * 1000 <= report.duration_ms < (TRACK_TIMEOUT + 2) * 1000
    # its sandbox was stopped: the process is gone
    assert report.sandbox is not None
    assert report.sandbox not in _runtime(engine).sandboxes("track")
    with pytest.raises(ProcessLookupError):
        os.kill(report.sandbox, 0)
    # and the log has Lambda's lines for it
    lines = (stack.data_dir / "functions.log").read_text(encoding="utf-8").splitlines()
    start = lines.index(f"START RequestId: {report.request_id} Version: $LATEST")
    end = next(i for i, line in enumerate(lines) if line.startswith(f"REPORT RequestId: {report.request_id}"))
    block = lines[start : end + 1]
    assert any(
        line.endswith(f"{report.request_id} Task timed out after {TRACK_TIMEOUT:.2f} seconds")
        for line in block
    )
    assert block[-2] == f"END RequestId: {report.request_id}"
    assert block[-1].endswith("Status: timeout")


def test_a_step_that_times_out_once_is_retried_in_a_new_sandbox_and_succeeds(
    stack: LocalStack, engine: LocalEngine, record: Path
) -> None:
    hanging = message_id("hang-once", "track", "1")
    message = {**load_event("anonymous_only"), "messageId": hanging}

    description = engine.run(message, timeout=60)

    assert description["status"] == "SUCCEEDED"
    history = engine.history(description["executionArn"])
    failures = [e["lambdaFunctionFailedEventDetails"] for e in history if e["type"] == "LambdaFunctionFailed"]
    assert [failure["error"] for failure in failures] == ["Sandbox.Timedout"]
    assert f"Task timed out after {TIMED_OUT}" in failures[0]["cause"]
    attempts = [
        r for r in read_records(record, "start") if r["messageId"] == hanging and r["function"] == "track"
    ]
    assert len(attempts) == 2
    assert attempts[0]["pid"] != attempts[1]["pid"]  # the retry ran in a new sandbox
    assert stack.personalize is not None
    tracked = stack.personalize.query("SELECT event_id FROM events WHERE event_id = ?", [hanging])
    assert len(tracked) == 1


def test_many_executions_run_at_once(stack: LocalStack, engine: LocalEngine, record: Path) -> None:
    event = load_event("anonymous_only")
    messages = [
        {**event, "messageId": f"burst-{index}", "anonymousId": f"visitor-{index}"} for index in range(12)
    ]

    arns = [engine.start(message) for message in messages]
    statuses = [engine.wait(arn, timeout=60)["status"] for arn in arns]

    assert statuses == ["SUCCEEDED"] * 12
    assert stack.personalize is not None
    rows = stack.personalize.query("SELECT session_id FROM events WHERE event_id LIKE 'burst-%'")
    assert Counter(row["session_id"] for row in rows) == {f"visitor-{index}": 1 for index in range(12)}
    tracks = [
        r for r in read_records(record) if r["function"] == "track" and r["messageId"].startswith("burst-")
    ]
    assert len(tracks) == 12
    assert len({r["pid"] for r in tracks}) >= 2  # more than one sandbox of Track
    assert _most_at_once(tracks) >= 2  # and invocations that overlapped


def test_invoke_and_deliver_run_in_the_sandboxes(engine: LocalEngine) -> None:
    with pytest.raises(InvocationError) as raised:
        engine.deliver({"type": "track"})
    assert raised.value.payload["errorType"] == "InvalidSegmentEvent"
    assert "messageId" in raised.value.payload["errorMessage"]
    assert engine.invoke("validate", _validate_payload("m1"))["status"] == "ignored"


def _most_at_once(runs: list[dict[str, Any]]) -> int:
    """The most invocations in flight at one moment."""
    edges = sorted([(float(r["started"]), 1) for r in runs] + [(float(r["ended"]), -1) for r in runs])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def _invoke_quietly(engine: LocalEngine, function: str, payload: dict[str, Any]) -> None:
    with contextlib.suppress(InvocationError):  # the held payload is not a valid input: it only holds
        engine.invoke(function, payload)


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never held")
        time.sleep(0.01)
