"""The local stack's rate limits reach the workflow as the real ones would (marker ``e2e``): with the Profile
API and PutEvents scaled down, the next execution's FilterTraits meets ProfileApiThrottled and
Track PersonalizeThrottled, at every attempt of today's retrier, and the event is dead-lettered with that
cause; at the real limits the same events go through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack.rate_limits import Rate
from local_stack.stack import LocalStack
from state_machines import load_definition
from state_machines.history import lambda_outcomes
from tests.events import load_event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

#: One request, then one every 1,000 s: the second execution is over the limit at each attempt.
ONCE = Rate(0.001, burst=1)


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LocalStack]:
    limits = {"segment": {"profile": ONCE}, "personalize": {"PutEvents": Rate(0.001, burst=2)}}
    with LocalStack(tmp_path, skip_retry_waits=True, rate_limits=limits) as stack:
        yield stack


def _event(message_id: str) -> dict[str, Any]:
    message = load_event("track_sku")  # a known user's Product Viewed: every step runs
    message["messageId"] = message_id
    return message


def test_over_the_limits_the_steps_are_throttled_then_dead_lettered(limited: LocalStack) -> None:
    engine, segment, personalize = limited.engine, limited.segment, limited.personalize
    assert engine is not None
    assert segment is not None
    assert personalize is not None
    first = engine.run(_event("limits-1"))
    assert first["status"] == "SUCCEEDED"
    assert "synced" in first["output"]

    second = engine.run(_event("limits-2"))

    history = engine.history(second["executionArn"])
    attempts = lambda_outcomes(history, "FilterTraits")
    # every attempt of the step's retrier met the 429 as ProfileApiThrottled, not as an outage
    assert set(attempts) == {"ProfileApiThrottled"}
    assert len(attempts) == 1 + max_attempts("FilterTraits", "ProfileApiThrottled")
    assert second["status"] == "FAILED"
    (letter,) = [d for d in engine.dead_letters() if d["messageId"] == "limits-2"]
    assert (letter["failedState"], letter["error"]["Error"]) == ("FilterTraits", "ProfileApiThrottled")
    assert segment.limiter.refused() == {"profile": {"local-space": len(attempts)}}

    # the two PutEvents above used the dataset group's bucket of 2: the third event's Track is throttled
    third = engine.run(_event("limits-3"))
    attempts = lambda_outcomes(engine.history(third["executionArn"]), "Track")
    assert set(attempts) == {"PersonalizeThrottled"}
    assert third["status"] == "FAILED"
    rows = personalize.query(
        "SELECT status, error_code, error_message FROM requests WHERE operation = 'PutEvents' ORDER BY id"
    )
    assert rows[:2] == [{"status": 200, "error_code": None, "error_message": None}] * 2
    assert {(r["status"], r["error_code"], r["error_message"]) for r in rows[2:]} == {
        (400, "ThrottlingException", "Rate exceeded")
    }


def max_attempts(state: str, error: str) -> int:
    """MaxAttempts of the first retrier of ``state`` that retries ``error``, in the committed ASL."""
    retrier = next(r for r in load_definition()["States"][state]["Retry"] if error in r["ErrorEquals"])
    return int(retrier["MaxAttempts"])


def test_at_the_real_limits_the_same_events_go_through(tmp_path: Path) -> None:
    with LocalStack(tmp_path, skip_retry_waits=True) as stack:
        assert stack.engine is not None
        for index in range(3):
            description = stack.engine.run(_event(f"real-{index}"))
            assert description["status"] == "SUCCEEDED"
            assert "synced" in description["output"]
        assert stack.segment is not None
        assert stack.personalize is not None
        assert stack.segment.limiter.refused() == {}
        assert stack.personalize.limiter.refused() == {}
