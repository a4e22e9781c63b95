"""The graph of an ASL document, in one place: where each state can go (Choices, Default, Next, Catch), what
is reachable from StartAt, the order the generator writes the states in, and a rough worst case of how long
one task step can take.

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


def worst_case_task_seconds(definition: Mapping[str, Any], function_timeout: int) -> int:
    """A rough upper bound of the longest single task step, every retry used: each attempt runs to its
    timeout (``TimeoutSeconds``, else ``function_timeout``), each wait is the retrier's longest (no jitter).

    One step, not a path: an EXPRESS execution stops at 5 minutes, and this says how much of that one step
    alone can take."""
    worst = 0
    for state in definition.get("States", {}).values():
        if state.get("Type") != "Task":
            continue
        timeout = state.get("TimeoutSeconds", function_timeout)
        total = timeout
        for retrier in state.get("Retry", []):
            interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
            cap = retrier.get("MaxDelaySeconds", 10**9)
            for attempt in range(retrier.get("MaxAttempts", 3)):
                total += min(cap, interval * rate**attempt) + timeout
        worst = max(worst, int(total))
    return worst
