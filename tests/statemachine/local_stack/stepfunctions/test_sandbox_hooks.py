"""Sandbox hooks: a test's callables run in each function's sandbox after its module is imported."""

from __future__ import annotations

import pytest

from local_stack.stepfunctions.engine import LocalEngine
from tests.events import load_event

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(60)]


def test_sandbox_hooks_run_in_each_function_after_its_import_and_not_in_the_next_engine() -> None:
    order = load_event("order_completed")
    hooks = {"validate": ["tests.fakes.planted_bugs:validate_rejects_order_completed"]}
    with LocalEngine(skip_retry_waits=True, sandbox_hooks=hooks) as engine:
        assert engine.run(order)["output"]["outcome"] == "rejected"  # the hook replaced Validate's logic
        assert engine.invoke("validate", {"messageId": "m1", "event": load_event("page")})["status"] == (
            "ignored"
        )
    with LocalEngine(skip_retry_waits=True) as engine:  # imported afresh: the hook is gone
        assert engine.invoke("validate", {"messageId": "m2", "event": order})["status"] == "accepted"
    with pytest.raises(ValueError, match="unknown functions"):
        LocalEngine(sandbox_hooks={"nope": ["x:y"]})
    with pytest.raises(ValueError, match="module:callable"), LocalEngine(sandbox_hooks={"track": ["x"]}):
        pass
