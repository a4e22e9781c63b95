"""Each execution's clock as AWS would read it, and the Express limit enforced on it.

An EXPRESS execution stops at 300 s with ``States.Timeout``, and no Catch sees it: "If an execution runs for
more than the 5-minute maximum, it will fail with a States.Timeout error"
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html); "catchers are available for
Task, Parallel and Map states, but not for top-level state machine execution failures"
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). moto enforces neither
that limit nor any time the engine records instead of sleeping, so the local engine keeps, per execution,
the time it would have taken on AWS:

* the real time it has run;
* every retry wait recorded instead of slept (``skip_retry_waits``: the ASL's Retry and the functions' SDK
  retries);
* for each invocation that timed out, what the function's timeout in ``iac/template.yaml`` adds to the
  time it really ran (a test shortens a timeout so that a step times out in a fraction of a second; on AWS
  that attempt lasts the template's timeout).

Past the limit, the execution stops as AWS stops it: the state in progress ends, no further state runs (the
dead-letter branch included), and the history ends with ``ExecutionTimedOut``. The clock is read in the
execution's own thread, where moto runs its states, so the check happens at the moment the time is added,
not at a later poll. A Task with ``TimeoutSeconds`` runs in a thread moto starts for it: that thread
(:class:`ClockedThread`) carries the clock of the thread that started it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from state_machines.budget import EXPRESS_LIMIT_SECONDS

__all__ = ["WORKFLOW_LIMITS", "ClockedThread", "ExecutionClock", "ExecutionClocks", "record", "timed_eval"]

#: How long an execution of each workflow type may run: Express 5 minutes (``state_machines/budget.py`` has
#: the source); Standard a year, which no local run approaches.
WORKFLOW_LIMITS: dict[str, float | None] = {"STANDARD": None, "EXPRESS": float(EXPRESS_LIMIT_SECONDS)}

_local = threading.local()


class ExecutionClock:
    """The time one execution has taken as AWS would count it; stops the execution past ``limit``."""

    def __init__(self, env: Any, limit: float | None) -> None:
        self._env = env
        self.limit = limit
        self.started = time.monotonic()
        self.recorded = 0.0
        self.timed_out = False

    @property
    def seconds(self) -> float:
        """Time taken so far; once past the limit, the limit (where AWS stopped the execution)."""
        if self.timed_out and self.limit is not None:
            return self.limit
        return time.monotonic() - self.started + self.recorded

    def add(self, seconds: float) -> None:
        self.recorded += max(0.0, seconds)
        self.check()

    def check(self) -> None:
        if self.limit is not None and not self.timed_out and self.seconds > self.limit:
            self.timed_out = True
            self._env.set_timed_out()


def current() -> ExecutionClock | None:
    """The clock of the execution running in this thread, if any."""
    return getattr(_local, "clock", None)


class ClockedThread(threading.Thread):
    """A thread that runs with the execution clock of the thread that created it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = current()

    def run(self) -> None:
        _local.clock = self._clock
        try:
            super().run()
        finally:
            _local.clock = None


def record(seconds: float) -> None:
    """Add time that was recorded instead of spent to the execution running in this thread."""
    clock = current()
    if clock is not None:
        clock.add(seconds)


def timed_eval(
    moto_eval: Callable[[Any, Any], None],
    limit: Callable[[], float | None],
    on_end: Callable[[Any, ExecutionClock], None],
) -> Callable[[Any, Any], None]:
    """A replacement of moto's ``Program.eval`` that runs the program as moto does, in a worker thread,
    with an :class:`ExecutionClock` of ``limit()`` seconds (None: no limit) in that thread. The real time is
    also watched from the calling thread, for a state that hangs. ``on_end(env, clock)`` once it ended."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.utils import TMP_THREADS

    del moto_eval  # replaced whole: its worker thread must carry the clock

    def program_eval(program: Any, env: Any) -> None:
        if current() is not None:  # a program inside an execution (a Map's iteration): moto's way
            EvalComponent.eval(program, env)
            return
        declared = program.timeout_seconds.timeout_seconds if program.timeout_seconds else None
        bounds = [value for value in (declared, limit()) if value is not None]
        clock = ExecutionClock(env, min(bounds) if bounds else None)
        env.next_state_name = program.start_at.start_at_name

        def run() -> None:
            _local.clock = clock
            try:
                EvalComponent.eval(program, env)
            finally:
                _local.clock = None

        worker = threading.Thread(target=run, daemon=True)
        TMP_THREADS.append(worker)
        worker.start()
        while worker.is_alive() and not clock.timed_out:
            worker.join(timeout=0.05)
            clock.check()
        on_end(env, clock)

    return program_eval


class ExecutionClocks:
    """The engine's side of the clocks: its workflow type's limit, each ended execution's seconds, and what
    its runtime and retries tell it. ``template_timeout(function)``: the function's timeout as deployed."""

    def __init__(self, workflow_type: str, template_timeout: Callable[[str], float]) -> None:
        if workflow_type not in WORKFLOW_LIMITS:
            raise ValueError(f"workflow_type must be one of {sorted(WORKFLOW_LIMITS)}, got {workflow_type!r}")
        self.limit = WORKFLOW_LIMITS[workflow_type]
        #: executionArn -> the seconds it took as AWS would count them (recorded waits and timeouts included)
        self.seconds: dict[str, float] = {}
        self._template_timeout = template_timeout

    @staticmethod
    def also_recorded(keep: Callable[[float], None]) -> Callable[[float], None]:
        """``keep`` for a wait recorded instead of slept, which also goes on the running execution's clock."""

        def recorded(seconds: float) -> None:
            keep(seconds)
            record(seconds)

        return recorded

    def timed_out(self, function: str, seconds: float) -> None:
        """An invocation stopped at its (maybe shortened) timeout: on AWS it lasts the template's."""
        record(self._template_timeout(function) - seconds)

    def ended(self, env: Any, clock: ExecutionClock) -> None:
        execution = env.states.context_object.context_object_data.get("Execution", {})
        self.seconds[str(execution.get("Id"))] = clock.seconds
