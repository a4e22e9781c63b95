"""The graph of an ASL document, in one place: where each state can go (Choices, Default, Next, Catch), what
is reachable from StartAt, the order the generator writes the states in, and the worst case of how long an
execution can take (the time budget an EXPRESS workflow must fit: ``state_machines/budget.py``).

The generator (``workflow.py``), the diagram, the template checks and the tests read the graph through
this module, so a new kind of transition is taught once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Transition:
    """One arrow of the graph: to ``target`` by a Choice rule, the Default, Next or a Catcher; ``rule`` is
    the Choice rule or the Catcher it comes from (None for Default and Next)."""

    kind: Literal["choice", "default", "next", "catch"]
    target: str
    rule: Mapping[str, Any] | None = None


def transitions(state: Mapping[str, Any]) -> list[Transition]:
    """A state's arrows, in the order the diagram draws them: Choices, Default, Next, then Catch."""
    found = [Transition("choice", choice["Next"], choice) for choice in state.get("Choices", [])]
    if "Default" in state:
        found.append(Transition("default", state["Default"]))
    if "Next" in state:
        found.append(Transition("next", state["Next"]))
    found += [Transition("catch", catch["Next"], catch) for catch in state.get("Catch", [])]
    return found


def targets(state: Mapping[str, Any]) -> list[str]:
    """The names of the states a state can go to."""
    return [transition.target for transition in transitions(state)]


def reachable(definition: Mapping[str, Any]) -> set[str]:
    """The states reachable from StartAt (StartAt included); a target that is not a state is left out."""
    states: Mapping[str, Any] = definition.get("States", {})
    start: str = definition.get("StartAt", "")
    seen: set[str] = set()
    pending: deque[str] = deque([start] if start in states else [])
    while pending:
        name = pending.popleft()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(target for target in targets(states[name]) if target in states)
    return seen


def state_order(states: Mapping[str, Any], start: str) -> list[str]:
    """Main path first (Next/Default from StartAt), then each branch in the order it is first met; states
    that cannot be reached last, by name. The order the generator writes the ASL file's states in."""
    order: list[str] = []
    pending = deque([start])
    while pending:
        name: str | None = pending.popleft()
        while name is not None and name in states and name not in order:
            order.append(name)
            state = states[name]
            pending.extend(choice["Next"] for choice in state.get("Choices", []))
            pending.extend(catch["Next"] for catch in state.get("Catch", []))
            name = state.get("Default", state.get("Next"))
    return order + sorted(set(states) - set(order))


def retry_waits(retrier: Mapping[str, Any]) -> list[float]:
    """The longest wait before each retry of one retrier: ``IntervalSeconds x BackoffRate^n`` capped at
    ``MaxDelaySeconds`` (FULL jitter only shortens it), with the ASL defaults (1 s, 2.0, 3 attempts)."""
    interval, rate = float(retrier.get("IntervalSeconds", 1)), float(retrier.get("BackoffRate", 2.0))
    cap = float(retrier.get("MaxDelaySeconds", float("inf")))
    return [min(cap, interval * rate**attempt) for attempt in range(int(retrier.get("MaxAttempts", 3)))]


def task_worst_case_seconds(name: str, state: Mapping[str, Any]) -> float:
    """A Task state at its slowest: every retrier uses all its attempts (each retrier counts its own), every
    attempt runs to ``TimeoutSeconds``, every wait is its retrier's longest. A Task without
    ``TimeoutSeconds`` has no bound (the ASL default is 99999999 s): ValueError."""
    if "TimeoutSeconds" not in state:
        raise ValueError(f"Task {name} has no TimeoutSeconds: its worst case has no bound")
    timeout = float(state["TimeoutSeconds"])
    waits = [wait for retrier in state.get("Retry", []) for wait in retry_waits(retrier)]
    return timeout * (1 + len(waits)) + sum(waits)


def _state_worst_case_seconds(name: str, state: Mapping[str, Any], wait_bounds: Mapping[str, float]) -> float:
    kind = state.get("Type")
    if kind == "Task":
        return task_worst_case_seconds(name, state)
    if kind == "Wait":
        if "Seconds" in state:
            return float(state["Seconds"])
        if name not in wait_bounds:
            raise ValueError(f"Wait {name} waits a time from its input: give its longest in wait_bounds")
        return float(wait_bounds[name])
    if kind in ("Pass", "Choice", "Succeed", "Fail"):
        return 0.0
    raise ValueError(f"state {name} is a {kind}: its worst case is not known here")


@dataclass(frozen=True)
class WorstCase:
    """The slowest way through a workflow: its seconds and the states on it, in order."""

    seconds: float
    path: tuple[str, ...]


def worst_case_path(
    definition: Mapping[str, Any], wait_bounds: Mapping[str, float] | None = None
) -> WorstCase:
    """The longest path from StartAt to an end, in seconds at worst (:func:`task_worst_case_seconds`; a
    Catch leaves a Task after all its attempts, so a failing path costs the Task as much as a succeeding one).
    Raises ValueError on a cycle, a Task without TimeoutSeconds or an unbounded Wait."""
    states: Mapping[str, Any] = definition.get("States", {})
    bounds = dict(wait_bounds or {})
    known: dict[str, WorstCase] = {}
    visiting: set[str] = set()

    def longest(name: str) -> WorstCase:
        if name in known:
            return known[name]
        if name in visiting:
            raise ValueError(f"the workflow loops through {name}: a loop has no worst case here")
        visiting.add(name)
        own = _state_worst_case_seconds(name, states[name], bounds)
        onward = [longest(target) for target in dict.fromkeys(targets(states[name])) if target in states]
        best = max(onward, key=lambda case: case.seconds, default=WorstCase(0.0, ()))
        visiting.discard(name)
        known[name] = WorstCase(own + best.seconds, (name, *best.path))
        return known[name]

    return longest(definition["StartAt"])
