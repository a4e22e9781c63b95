"""state_machines.graph on small hand-written ASL documents: transitions, reachability, the generator's
state order, and the worst case of one task step."""

from __future__ import annotations

from typing import Any

import pytest

from state_machines import load_definition
from state_machines.graph import (
    Transition,
    reachable,
    state_order,
    targets,
    transitions,
    worst_case_task_seconds,
)

pytestmark = pytest.mark.unit

CHOICE = {"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}
CATCH = {"ErrorEquals": ["States.ALL"], "Next": "Recover"}
#: Start -> Decide -(ok)-> Done, otherwise -> Work -> Done; Work catches into Recover -> Done; Orphan alone.
DEFINITION: dict[str, Any] = {
    "StartAt": "Start",
    "States": {
        "Orphan": {"Type": "Pass", "Next": "Done"},
        "Recover": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Work": {"Type": "Task", "Resource": "x", "Next": "Done", "Catch": [CATCH]},
        "Decide": {"Type": "Choice", "Choices": [CHOICE], "Default": "Work"},
        "Start": {"Type": "Pass", "Next": "Decide"},
    },
}


def test_transitions_are_choices_default_next_then_catch() -> None:
    state = {"Choices": [CHOICE], "Default": "Work", "Next": "Later", "Catch": [CATCH]}
    assert transitions(state) == [
        Transition("choice", "Done", CHOICE),
        Transition("default", "Work"),
        Transition("next", "Later"),
        Transition("catch", "Recover", CATCH),
    ]
    assert targets(state) == ["Done", "Work", "Later", "Recover"]
    assert targets({"Type": "Succeed"}) == []


def test_reachable_follows_every_kind_of_transition_from_start_at() -> None:
    assert reachable(DEFINITION) == {"Start", "Decide", "Done", "Work", "Recover"}


def test_reachable_leaves_out_targets_that_are_not_states() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    assert reachable(definition) == {"A"}
    assert reachable({"StartAt": "Missing", "States": {}}) == set()


def test_state_order_is_the_main_path_then_branches_then_the_unreachable_by_name() -> None:
    order = ["Start", "Decide", "Work", "Done", "Recover", "Orphan"]
    assert state_order(DEFINITION["States"], "Start") == order


def test_worst_case_of_a_task_step_adds_every_attempt_and_every_capped_wait() -> None:
    retried = {"IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 3, "MaxDelaySeconds": 3}
    definition = {
        "States": {
            # 10 s first attempt, then waits of 1, 2, min(3, 4) s, each followed by a 10 s attempt
            "Retried": {"Type": "Task", "Retry": [retried]},
            "Short": {"Type": "Task", "TimeoutSeconds": 5},
            "Wait": {"Type": "Wait", "Seconds": 1000},
        }
    }
    assert worst_case_task_seconds(definition, function_timeout=10) == 10 + 11 + 12 + 13


def test_worst_case_uses_the_asl_defaults_and_rounds_down() -> None:
    # a retrier without fields: IntervalSeconds 1, BackoffRate 2.0, MaxAttempts 3, no cap
    defaults = {"States": {"T": {"Type": "Task", "Retry": [{"ErrorEquals": ["States.ALL"]}]}}}
    assert worst_case_task_seconds(defaults, function_timeout=10) == 10 + 11 + 12 + 14
    slow = {"States": {"T": {"Type": "Task", "Retry": [{"BackoffRate": 1.5, "MaxAttempts": 2}]}}}
    assert worst_case_task_seconds(slow, function_timeout=10) == 32  # 10 + 11 + 11.5
    assert worst_case_task_seconds({"States": {}}, function_timeout=10) == 0


def test_the_committed_asl_file_is_sound() -> None:
    definition = load_definition()
    assert reachable(definition) == set(definition["States"])
    assert state_order(definition["States"], definition["StartAt"]) == list(definition["States"])
