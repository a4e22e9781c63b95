"""Would it outlive Express's 5 minutes? The time budget of an execution, from the ASL file and the template.

``state_machines/budget.py`` says why: an EXPRESS execution stops at 300 s and that stop cannot be caught, so
the slowest path (every retrier's attempts, each at its Task's ``TimeoutSeconds``, the longest waits, the
dead-letter branch at the end) must fit under it with a margin. Each check is also shown refusing a policy or
a timeout that would break it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import functions
from iac.template import CheckFailed, Validation, function_timeouts, require
from segment_personalize.adapters.clients import UNIT_OF_WORK, unit_of_work_seconds
from segment_personalize.config import MAX_READ_TIMEOUT
from state_machines import budget, graph
from tests.iac.templates import modified, props

pytestmark = pytest.mark.iac

#: Time a handler needs besides its calls (parsing, models, logs) within its Lambda timeout.
HANDLER_OVERHEAD_SECONDS = 1.0
#: The template parameters that set a read timeout, by the setting they become.
READ_TIMEOUT_PARAMETERS = {
    "PERSONALIZE_TIMEOUT": "PersonalizeTimeout",
    "SEGMENT_TIMEOUT": "SegmentTimeout",
    "SEGMENT_PROFILE_API_TIMEOUT": "SegmentProfileApiTimeout",
}


def check_budget(v: Validation) -> budget.WorstCase:
    """Every workflow type's slowest path fits its budget; the worst case, for the report."""
    for workflow_type in ("STANDARD", "EXPRESS"):
        problem = budget.over_budget(v.asl, workflow_type)
        require(problem is None, problem or "")
    return budget.worst_case(v.asl)


def check_task_timeouts(v: Validation) -> None:
    """Every Task has TimeoutSeconds; a Lambda Task's is its function's timeout plus the allowance, so a slow
    invocation ends as Lambda's own timeout (its sandbox stopped), not with the invocation still running."""
    timeouts = function_timeouts(v.template)
    for name, state in v.asl["States"].items():
        if state["Type"] != "Task":
            continue
        require("TimeoutSeconds" in state, f"Task {name} has no TimeoutSeconds: its worst case has no bound")
        step = next(
            (f for f in functions.STEPS if state["Resource"] == "${" + functions.placeholder(f) + "}"), None
        )
        if step is None:
            continue
        expected = budget.lambda_task_timeout(timeouts[step])
        require(
            state["TimeoutSeconds"] == expected,
            f"Task {name} times out after {state['TimeoutSeconds']} s, its function after {timeouts[step]} "
            f"s: expected {expected} s (run `make asl` after changing a function's Timeout)",
        )


def read_timeout_maxima(v: Validation) -> dict[str, float]:
    """The longest read timeout each setting can be given, as the template allows it."""
    return {
        setting: float(v.template["Parameters"][parameter]["MaxValue"])
        for setting, parameter in READ_TIMEOUT_PARAMETERS.items()
    }


def check_calls_fit_function_timeouts(v: Validation) -> None:
    """Each function's calls for one unit of its work, at the slowest settings the template allows, fit its
    Lambda timeout with room for the handler: a hung call fails as a named, retried error."""
    maxima = read_timeout_maxima(v)
    for function, timeout in function_timeouts(v.template).items():
        calls = unit_of_work_seconds(function, maxima)
        require(
            calls + HANDLER_OVERHEAD_SECONDS <= timeout,
            f"{function}: its calls take up to {calls:.1f} s (+{HANDLER_OVERHEAD_SECONDS:.0f} s for the "
            f"handler), over its {timeout} s Lambda timeout",
        )


def asl_with(change: Any) -> Validation:
    """A validation of the real template with a modified copy of the ASL file."""
    definition = copy.deepcopy(Validation().asl)
    change(definition["States"])
    return Validation(asl_text=json.dumps(definition))


def test_the_slowest_path_fits_the_express_budget(validation: Validation) -> None:
    case = check_budget(validation)
    assert case.seconds <= budget.BUDGET_SECONDS["EXPRESS"] < budget.EXPRESS_LIMIT_SECONDS
    # the slowest path goes through every step and ends in the dead-letter branch, so it always has time
    assert case.path[-2:] == ("SendToDeadLetterQueue", "Failed")
    assert {"Validate", "Track", "Recommend", "FilterTraits", "SyncProfile"} <= set(case.path)


def test_a_too_generous_retry_policy_is_refused() -> None:
    def generous(states: dict[str, Any]) -> None:
        states["Track"]["Retry"][0]["MaxAttempts"] = 20

    with pytest.raises(CheckFailed, match="over the budget of 285 s"):
        check_budget(asl_with(generous))


def test_a_longer_function_timeout_is_refused_by_the_budget() -> None:
    def slower(states: dict[str, Any]) -> None:
        for name in ("Track", "SyncProfile"):
            states[name]["TimeoutSeconds"] = 30

    with pytest.raises(CheckFailed, match="EXPRESS|STANDARD"):
        check_budget(asl_with(slower))


def test_every_task_times_out_one_second_after_its_function(validation: Validation) -> None:
    check_task_timeouts(validation)


def test_a_task_without_timeout_is_refused() -> None:
    with pytest.raises(CheckFailed, match="Recommend has no TimeoutSeconds"):
        check_task_timeouts(asl_with(lambda states: states["Recommend"].pop("TimeoutSeconds")))
    with pytest.raises(ValueError, match="no TimeoutSeconds"):
        graph.worst_case_path(asl_with(lambda states: states["Recommend"].pop("TimeoutSeconds")).asl)


def test_a_function_timeout_the_asl_does_not_follow_is_refused() -> None:
    with pytest.raises(CheckFailed, match="make asl"):
        check_task_timeouts(modified(lambda t: props(t, "TrackFunction").update(Timeout=12)))


def test_each_functions_calls_fit_its_lambda_timeout(validation: Validation) -> None:
    check_calls_fit_function_timeouts(validation)
    assert set(UNIT_OF_WORK) == set(functions.FUNCTIONS)


def test_calls_that_outgrow_the_function_timeout_are_refused() -> None:
    with pytest.raises(CheckFailed, match="track: its calls take up to 6.0 s"):
        check_calls_fit_function_timeouts(modified(lambda t: props(t, "TrackFunction").update(Timeout=6)))

    def slow_personalize(template: dict[str, Any]) -> None:
        template["Parameters"]["PersonalizeTimeout"]["MaxValue"] = 10

    with pytest.raises(CheckFailed, match="track: its calls take up to 13.0 s"):
        check_calls_fit_function_timeouts(modified(slow_personalize))


def test_the_template_allows_no_read_timeout_the_settings_refuse(validation: Validation) -> None:
    # what the functions' settings accept (config.py) is what the template lets a deployment choose
    assert read_timeout_maxima(validation) == dict.fromkeys(READ_TIMEOUT_PARAMETERS, MAX_READ_TIMEOUT)
