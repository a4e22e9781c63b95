"""state_machines.graph on small hand-written ASL documents: transitions, reachability, the generator's
state order, and the worst case of one task step."""

from __future__ import annotations

from typing import Any

import pytest

from state_machines import load_definition
from state_machines.graph import (
    Transition,
    WorstCase,
    reachable,
    retry_waits,
    state_order,
    targets,
    task_worst_case_seconds,
    transitions,
    worst_case_path,
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


def test_a_tasks_worst_case_adds_every_attempt_of_every_retrier_and_every_capped_wait() -> None:
    retried = {"IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 3, "MaxDelaySeconds": 3}
    # 10 s first attempt, then waits of 1, 2, min(3, 4) s, each followed by a 10 s attempt
    assert task_worst_case_seconds("T", {"Type": "Task", "TimeoutSeconds": 10, "Retry": [retried]}) == 46
    # two retriers count their attempts apart: 1 + 3 + 1 attempts
    second = {"IntervalSeconds": 5, "MaxAttempts": 1}
    state = {"Type": "Task", "TimeoutSeconds": 10, "Retry": [retried, second]}
    assert task_worst_case_seconds("T", state) == 46 + 5 + 10


def test_a_retrier_without_fields_takes_the_asl_defaults() -> None:
    # IntervalSeconds 1, BackoffRate 2.0, MaxAttempts 3, no cap
    assert retry_waits({"ErrorEquals": ["States.ALL"]}) == [1.0, 2.0, 4.0]
    assert retry_waits({"BackoffRate": 1.5, "MaxAttempts": 2}) == [1.0, 1.5]


def test_a_task_without_timeout_has_no_worst_case() -> None:
    with pytest.raises(ValueError, match="T has no TimeoutSeconds"):
        task_worst_case_seconds("T", {"Type": "Task"})


def test_the_worst_path_is_the_longest_way_to_an_end_catch_branches_included() -> None:
    definition: dict[str, Any] = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "TimeoutSeconds": 2, "Next": "Choose", "Catch": [{"Next": "Slow"}]},
            "Choose": {"Type": "Choice", "Choices": [{"Next": "Wait"}], "Default": "Done"},
            "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Done"},
            "Slow": {"Type": "Task", "TimeoutSeconds": 9, "End": True},
            "Done": {"Type": "Succeed"},
        },
    }
    assert worst_case_path(definition) == WorstCase(11.0, ("A", "Slow"))
    definition["States"]["Wait"]["Seconds"] = 20
    assert worst_case_path(definition) == WorstCase(22.0, ("A", "Choose", "Wait", "Done"))


def test_a_wait_from_the_input_needs_its_bound_and_a_loop_has_no_worst_case() -> None:
    waiting = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}
    with pytest.raises(ValueError, match="give its longest"):
        worst_case_path(waiting)
    assert worst_case_path(waiting, {"W": 30}).seconds == 30
    looping = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "P"}}}
    with pytest.raises(ValueError, match="loops through P"):
        worst_case_path(looping)


def test_the_committed_asl_file_is_sound() -> None:
    definition = load_definition()
    assert reachable(definition) == set(definition["States"])
    assert state_order(definition["States"], definition["StartAt"]) == list(definition["States"])
