"""The soak's fault plan: which faults the local services inject, when, and how an outage ends.

Short bursts that the state machine's retries absorb, answers slower than the clients' timeouts, then four
outages that outlast the retries so that some executions are dead-lettered. Every fault goes through the
services' own injectors (``stack.personalize.faults``, ``stack.segment.faults``), all from this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_stack.stack import LocalStack

#: Client timeouts during a soak (seconds) and how much slower the injected slow answers are.
CLIENT_TIMEOUT = 1.0
SLOW_ANSWER = 1.6
#: An outage is a fault with a count no run reaches; it ends when cleared.
OUTAGE = 10**6


@dataclass(frozen=True)
class FaultStep:
    """At ``at`` (a fraction of the deliveries), do ``action``. An outage lasts until ``until``; then the
    soak waits for the executions started meanwhile (so each meets the outage) and ends it with ``clear``."""

    at: float
    label: str
    action: Callable[[LocalStack], None]
    until: float | None = None
    clear: Callable[[LocalStack], None] | None = None


def _personalize(stack: LocalStack) -> Any:
    assert stack.personalize is not None
    return stack.personalize


def _segment(stack: LocalStack) -> Any:
    assert stack.segment is not None
    return stack.segment


def fault_plan() -> list[FaultStep]:
    """Short bursts the retries absorb, slow answers, then four outages that outlast the retries."""

    def p(operation: str, error: str | None, count: int, delay: float = 0.0) -> Callable[[LocalStack], None]:
        return lambda s: _personalize(s).faults.add(operation, error, count=count, delay_seconds=delay)

    def g(api: str, status: int | None, count: int, delay: float = 0.0) -> Callable[[LocalStack], None]:
        return lambda s: _segment(s).faults.add(api, status, count=count, delay_seconds=delay)

    def both(*actions: Callable[[LocalStack], None]) -> Callable[[LocalStack], None]:
        def apply(s: LocalStack) -> None:
            for action in actions:
                action(s)

        return apply

    def clear_personalize(s: LocalStack) -> None:
        injector = _personalize(s).faults
        for fault in _end_outages(injector):
            injector.add(**{k: v for k, v in fault.items() if k != "message"})

    def clear_segment(s: LocalStack) -> None:
        injector = _segment(s).faults
        for fault in _end_outages(injector):
            injector.add_from_dict({k: v for k, v in fault.items() if v is not None})

    return [
        FaultStep(0.04, "PutEvents ThrottlingException x3", p("PutEvents", "ThrottlingException", 3)),
        FaultStep(0.08, "GetRecommendations 500 x3", p("GetRecommendations", "InternalServerError", 3)),
        FaultStep(0.12, "Profile API 429 x2 then 503 x2", both(g("profile", 429, 2), g("profile", 503, 2))),
        FaultStep(0.16, "tracking API 503 x3", g("tracking", 503, 3)),
        FaultStep(
            0.20,
            f"answers slower than the {CLIENT_TIMEOUT:g} s client timeouts ({SLOW_ANSWER:g} s), one each: "
            "Profile API, tracking API (applied late), GetRecommendations, PutEvents (not applied)",
            both(
                g("profile", None, 1, SLOW_ANSWER),
                g("tracking", None, 1, SLOW_ANSWER),
                p("GetRecommendations", None, 1, SLOW_ANSWER),
                p("PutEvents", "ServiceUnavailableException", 1, SLOW_ANSWER),
            ),
        ),
        FaultStep(
            0.28,
            "outage: PutEvents ThrottlingException",
            p("PutEvents", "ThrottlingException", OUTAGE),
            until=0.36,
            clear=clear_personalize,
        ),
        FaultStep(
            0.46,
            "outage: GetRecommendations 500",
            p("GetRecommendations", "InternalServerError", OUTAGE),
            until=0.52,
            clear=clear_personalize,
        ),
        FaultStep(
            0.62, "outage: Profile API 503", g("profile", 503, OUTAGE), until=0.68, clear=clear_segment
        ),
        FaultStep(
            0.78, "outage: tracking API 503", g("tracking", 503, OUTAGE), until=0.84, clear=clear_segment
        ),
    ]


def _end_outages(injector: Any) -> list[dict[str, Any]]:
    """Drop every pending fault; the ones that were not outages, to be queued again."""
    pending = [fault for fault in injector.pending() if fault["count"] < OUTAGE // 2]
    injector.clear()
    return pending


def count_answers(injector: Any, counter: Counter[str], name: str, key: Callable[[Any], str]) -> None:
    """Count the faults an injector hands out (an instance attribute shadows its ``take``)."""
    take = injector.take

    def counted(operation: str) -> Any:
        fault = take(operation)
        if fault is not None:
            counter[f"{name} {operation}: {key(fault)}"] += 1
        return fault

    injector.take = counted
