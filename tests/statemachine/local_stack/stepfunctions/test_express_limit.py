"""An EXPRESS execution in the local engine keeps the clock AWS keeps, and stops at 300 s as AWS stops it.

Track's sandboxes hang on demand (``sandbox_hooks.py``) with a timeout shortened to a fraction of a second;
the engine counts each timed-out attempt at the template's timeout, and each retry wait it records instead
of sleeping, so a path that would take minutes on AWS is judged in seconds here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack.lambda_runtime.configuration import template_limits
from local_stack.stack import LocalStack
from local_stack.stepfunctions.engine import LocalEngine
from state_machines import ASL_PATH
from state_machines.budget import BUDGET_SECONDS, EXPRESS_LIMIT_SECONDS
from tests.events import load_event
from tests.statemachine.local_stack.lambda_runtime.sandbox_hooks import HOOK, RECORD_VARIABLE, message_id

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(120)]

#: Track's timeout in these tests; the clock counts the template's for each attempt that reaches it.
SHORT_TIMEOUT = 0.3


def _engine(folder: Path, asl_path: Path, track_timeout: float = SHORT_TIMEOUT) -> LocalEngine:
    """A bare EXPRESS engine on another ASL file (Track never reaches Personalize here: it hangs)."""
    return LocalEngine(
        runtime="process",
        workflow_type="EXPRESS",
        skip_retry_waits=True,
        asl_path=asl_path,
        env={RECORD_VARIABLE: str(folder / "record.jsonl")},
        sandbox_hooks={"track": [HOOK]},
        function_timeouts={"track": track_timeout},
    )


def _too_generous(asl: dict[str, Any]) -> dict[str, Any]:
    """Track retried with waits of minutes: a policy the budget check refuses, run to show why."""
    (retrier,) = asl["States"]["Track"]["Retry"]
    retrier.update(IntervalSeconds=120, MaxAttempts=5, BackoffRate=2.0, JitterStrategy="NONE")
    retrier.pop("MaxDelaySeconds", None)
    return asl


def test_an_execution_past_five_minutes_stops_with_no_dead_letter(tmp_path: Path) -> None:
    asl = _too_generous(json.loads(Path(ASL_PATH).read_text(encoding="utf-8")))
    (tmp_path / "too_generous.asl.json").write_text(json.dumps(asl), encoding="utf-8")
    hanging = message_id("hang", "track", "past-the-limit")

    with _engine(tmp_path, tmp_path / "too_generous.asl.json") as engine:
        description = engine.run({**load_event("anonymous_only"), "messageId": hanging}, timeout=60)
        history = engine.history(description["executionArn"])
        letters = engine.dead_letters()
        seconds = engine.execution_seconds[description["executionArn"]]

    assert description["status"] == "TIMED_OUT"
    assert history[-1]["type"] == "ExecutionTimedOut"
    # 7 s, a 120 s wait, 7 s, a 240 s wait: past 300 s the execution stopped, and no catch ran
    assert len([e for e in history if e["type"] == "LambdaFunctionFailed"]) == 2
    assert not any(
        e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "TrackFailed"
        for e in history
    )
    assert letters == []  # the event never reaches the dead-letter queue: what the budget check prevents
    assert seconds == EXPRESS_LIMIT_SECONDS  # where AWS stops it, during the second wait


def test_a_task_past_its_timeout_seconds_is_dead_lettered_with_states_timeout(tmp_path: Path) -> None:
    asl = json.loads(Path(ASL_PATH).read_text(encoding="utf-8"))
    asl["States"]["Track"].update(TimeoutSeconds=1, Retry=[])  # Step Functions gives up before Lambda does
    (tmp_path / "one_second.asl.json").write_text(json.dumps(asl), encoding="utf-8")
    hanging = message_id("hang", "track", "task-timeout")

    with _engine(tmp_path, tmp_path / "one_second.asl.json", track_timeout=5) as engine:
        description = engine.run({**load_event("anonymous_only"), "messageId": hanging}, timeout=60)
        history = engine.history(description["executionArn"])
        (letter,) = engine.dead_letters()

    assert [e["type"] for e in history if e["type"].startswith("LambdaFunction")][
        -1
    ] == "LambdaFunctionTimedOut"
    assert letter["failedState"] == "Track"
    assert letter["error"]["Error"] == "States.Timeout"
    # the Failed state passes the step's error on, as the execution's error (not a States.Runtime of moto's)
    assert description["status"] == "FAILED"
    assert history[-1]["executionFailedEventDetails"]["error"] == "States.Timeout"


# the tests below share one stack: the one above opens an engine of its own first
@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    """An EXPRESS workflow on a local stack (local Personalize and Segment), Track's sandboxes hooked."""
    folder = tmp_path_factory.mktemp("express")
    with LocalStack(
        folder,
        workflow_type="EXPRESS",
        skip_retry_waits=True,
        env={RECORD_VARIABLE: str(folder / "record.jsonl")},
        sandbox_hooks={"track": [HOOK]},
        function_timeouts={"track": SHORT_TIMEOUT},
    ) as stack:
        assert stack.engine is not None
        yield stack.engine


def _failures(engine: LocalEngine, arn: str) -> list[str]:
    return [
        str(e["lambdaFunctionFailedEventDetails"]["error"])
        for e in engine.history(arn)
        if e["type"] == "LambdaFunctionFailed"
    ]


def test_a_step_that_times_out_on_every_attempt_is_dead_lettered_within_the_express_budget(
    engine: LocalEngine,
) -> None:
    hanging = message_id("hang", "track", "every-attempt")
    description = engine.run({**load_event("anonymous_only"), "messageId": hanging}, timeout=60)

    arn = description["executionArn"]
    assert description["status"] == "FAILED"  # through the dead-letter branch, not a timeout
    assert _failures(engine, arn) == ["Sandbox.Timedout"] * 4  # the first attempt and three retries
    (letter,) = [letter for letter in engine.dead_letters() if letter.get("messageId") == hanging]
    assert letter["failedState"] == "Track"
    assert letter["error"]["Error"] == "Sandbox.Timedout"
    # on AWS: four attempts at Track's template timeout, the recorded backoff, the other steps
    track_timeout, _ = template_limits()["track"]
    seconds = engine.execution_seconds[arn]
    assert 4 * track_timeout <= seconds <= 4 * track_timeout + sum(engine.retry_waits) + 5
    assert seconds < BUDGET_SECONDS["EXPRESS"] < EXPRESS_LIMIT_SECONDS


def test_a_step_that_times_out_once_then_succeeds_counts_one_timeout(engine: LocalEngine) -> None:
    once = message_id("hang-once", "track", "express")
    description = engine.run({**load_event("anonymous_only"), "messageId": once}, timeout=60)

    assert description["status"] == "SUCCEEDED"
    assert _failures(engine, description["executionArn"]) == ["Sandbox.Timedout"]
    track_timeout, _ = template_limits()["track"]
    assert track_timeout <= engine.execution_seconds[description["executionArn"]] < 2 * track_timeout + 5
