"""The time budget of one execution: what the slowest way through the workflow may take.

An EXPRESS execution stops after 5 minutes with ``States.Timeout``, and Step Functions' catchers do not apply
to a failure of the execution itself, so an event still being retried at 300 s is lost before its
dead-letter branch runs:
- "Express: 5 minutes. If an execution runs for more than the 5-minute maximum, it will fail with a
  States.Timeout error" (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html);
- "Step Functions catchers are available for Task, Parallel and Map states, but not for top-level state
  machine execution failures" (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).

So the worst case of the committed ASL file (``graph.worst_case_path``: every retrier uses all its attempts,
each attempt runs to its Task's ``TimeoutSeconds``, each wait is its retrier's longest, and the path goes on
through the dead-letter branch) must stay under the limit with a margin. One ASL file serves both workflow
types (``iac/template.yaml`` deploys it as either), so its retry policies are the same for both and the
EXPRESS budget binds; a STANDARD execution may run a year, and gets its further resilience from the
dead-letter queue and ``segment-personalize redrive``.

``tests/iac/test_budget.py`` (``make validate``) checks the worst case against :data:`BUDGET_SECONDS` from the
ASL file and the function timeouts of ``iac/template.yaml``, and fails when a policy is too generous.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from state_machines.graph import WorstCase, worst_case_path

#: Step Functions stops an EXPRESS execution after 300 s (the quota page above).
EXPRESS_LIMIT_SECONDS = 300
#: Left over the worst case for what it does not count: the state transitions themselves and a Wait's
#: precision (tens of milliseconds each).
MARGIN_SECONDS = 15
#: The longest the slowest path may take, per workflow type.
BUDGET_SECONDS: dict[str, int] = {
    "EXPRESS": EXPRESS_LIMIT_SECONDS - MARGIN_SECONDS,
    # the same ASL file: its policies are the EXPRESS ones (see the module docstring)
    "STANDARD": EXPRESS_LIMIT_SECONDS - MARGIN_SECONDS,
}
#: A Lambda Task's ``TimeoutSeconds`` is its function's timeout plus this: room for a cold start and the
#: invoke itself, so that a slow invocation ends as Lambda's own ``Sandbox.Timedout`` (its sandbox stopped)
#: rather than as ``States.Timeout`` with the invocation still running.
TASK_TIMEOUT_ALLOWANCE_SECONDS = 1
#: ``TimeoutSeconds`` of a Task that calls an AWS service directly (SQS SendMessage of the dead letter):
#: such a call answers in milliseconds.
SERVICE_TASK_TIMEOUT_SECONDS = 5


def lambda_task_timeout(function_timeout: int) -> int:
    """``TimeoutSeconds`` of the Task that invokes a function with this ``Timeout``."""
    return function_timeout + TASK_TIMEOUT_ALLOWANCE_SECONDS


def worst_case(definition: Mapping[str, Any], wait_bounds: Mapping[str, float] | None = None) -> WorstCase:
    """The slowest path through ``definition`` (an ASL document)."""
    return worst_case_path(definition, wait_bounds)


def over_budget(
    definition: Mapping[str, Any], workflow_type: str, wait_bounds: Mapping[str, float] | None = None
) -> str | None:
    """Why ``definition`` does not fit ``workflow_type``'s budget, or None when it does."""
    case = worst_case(definition, wait_bounds)
    budget = BUDGET_SECONDS[workflow_type]
    if case.seconds <= budget:
        return None
    return (
        f"{workflow_type}: the slowest path takes {case.seconds:.0f} s at worst, over the budget of "
        f"{budget} s ({EXPRESS_LIMIT_SECONDS} s less a {MARGIN_SECONDS} s margin): {' -> '.join(case.path)}"
    )
