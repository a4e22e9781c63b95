"""What ``LocalEngine.forget`` changes in moto so that a long run does not keep every execution in memory.

moto keeps, for as long as it runs, every execution with its history (``StateMachine.executions``), a deep
copy of the state machine per execution and every DynamoDB item ever written (each model class's
``instances_tracked``, appended to by ``BaseModel.__new__``), and every thread of its interpreter
(``TMP_THREADS``): about 130 KB a message of this workflow. :func:`drop_execution` takes an ended
execution and the ended threads out; the name check keeps the names of dropped executions taken, as Step
Functions keeps a closed execution's name; the models made anew for every execution are not tracked.

Every internal touched here is a row of ``moto_patches.PATCHES`` or ``moto_patches.READS`` (:data:`PATCHES`
and :data:`READS` below, as ``Internal`` fields: target, switch, replaces, why, breaks on upgrade), installed
and restored by ``MotoPatches`` like the others.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

#: moto models made anew for every execution or idempotency write, whose instances moto tracks forever.
CHURNED_MODELS = ("moto.stepfunctions.models.StateMachine", "moto.dynamodb.models.dynamo_type.Item")
_NAME_CHECK = "moto.stepfunctions.models.StateMachine._handle_name_input_idempotency"
_NEW_MODEL = "moto.core.common_models.BaseModel.__new__"

PATCHES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        _NAME_CHECK,
        "always",
        "StartExecution's check of the name against the executions moto keeps",
        "LocalEngine.forget drops ended executions from StateMachine.executions: their names stay taken",
        "the check or the list renamed: a forgotten name could start a second execution "
        "(tests/e2e/cli/test_replay.py redelivers after forget)",
    ),
    (
        _NEW_MODEL,
        "always",
        "moto's model constructor, which appends every instance to its class's instances_tracked for good",
        "instances of CHURNED_MODELS are not tracked (only moto-api's data.json reads them): each execution "
        "deep-copies its state machine (12 KB of ASL), each idempotency write makes an Item",
        "instances tracked somewhere else (memory grows again), or instances_tracked read by moto itself",
    ),
)

READS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "moto.stepfunctions.models.StateMachine.executions",
        "always",
        "nothing: LocalEngine.forget removes an ended execution from this list, with its history",
        "moto keeps every execution (its history, its environment) for as long as it runs",
        "executions kept elsewhere too (memory grows again), or get_backend renamed",
    ),
    (
        "moto.stepfunctions.parser.utils.TMP_THREADS",
        "always",
        "nothing: LocalEngine.forget removes the threads that have ended from this list",
        "moto appends every thread of its interpreter to it (3 to 4 an execution) and never empties it",
        "a thread list under another name (memory grows again, nothing breaks)",
    ),
)


def replacements(forgotten: Callable[[str], bool]) -> Iterator[tuple[str, Any]]:
    """(target, value) of each row of :data:`PATCHES`: what ``MotoPatches.install`` sets them to."""
    yield _NAME_CHECK, _forgotten_names_taken(pkgutil.resolve_name(_NAME_CHECK), forgotten)
    yield _NEW_MODEL, staticmethod(_untracked_new(pkgutil.resolve_name(_NEW_MODEL)))


def _forgotten_names_taken(
    moto_check: Callable[[Any, str, str], Any], forgotten: Callable[[str], bool]
) -> Callable[[Any, str, str], Any]:
    """moto's name check of StartExecution, which also refuses the name of a forgotten execution (by its
    ARN), as Step Functions refuses the name of a closed execution: "If the execution is closed ... it
    returns a 400 ExecutionAlreadyExists error. You can reuse names after 90 days."
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html)"""
    from moto.stepfunctions.exceptions import ExecutionAlreadyExists

    def check(state_machine: Any, name: str, execution_input: str) -> Any:
        existing = moto_check(state_machine, name, execution_input)
        if existing is None:
            arn = f"{state_machine.arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
            if forgotten(arn):
                raise ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'")
        return existing

    return check


def drop_execution(account: str, region: str, state_machine_arn: str, execution_arn: str) -> bool:
    """Remove an execution that has ended from moto's state machine, with its history, and the threads of
    the interpreter that have ended (:data:`READS`); False when moto does not hold it. ValueError while it
    runs."""
    from moto.stepfunctions.parser.utils import TMP_THREADS
    from moto.stepfunctions.responses import get_backend

    machine = get_backend(account, region).describe_state_machine(state_machine_arn)
    for index, execution in enumerate(machine.executions):
        if execution.execution_arn == execution_arn:
            if execution.status == "RUNNING":
                raise ValueError(f"{execution_arn} is still running: only an ended execution is forgotten")
            del machine.executions[index]
            # a thread appended while this runs may be left out: nothing reads the list, it only grew
            TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]
            return True
    return False


def _untracked_new(moto_new: Callable[..., Any]) -> Callable[..., Any]:
    """moto's ``BaseModel.__new__``, but an instance of :data:`CHURNED_MODELS` is not tracked."""
    churned = tuple(pkgutil.resolve_name(model) for model in CHURNED_MODELS)

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        if cls in churned:
            return object.__new__(cls)  # what moto's super().__new__(cls) makes, not appended
        return moto_new(cls, *args, **kwargs)

    return new
