"""The soak's fault plan: which faults the local services inject, when, and how an outage ends.

Short bursts that the state machine's retries absorb, answers slower than the clients' timeouts, a large
order whose second PutEvents call is throttled, then four outages that outlast the retries so that some
executions are dead-lettered. Every fault goes through the services' own injectors
(``stack.personalize.faults``, ``stack.segment.faults``), all from this module.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from local_stack.stack import LocalStack
from local_stack.traffic import LARGE_ORDER, Generated

#: Client timeouts during a soak (seconds) and how much slower the injected slow answers are.
CLIENT_TIMEOUT = 1.0
SLOW_ANSWER = 1.6
#: An outage is a fault with a count no run reaches; it ends when cleared.
OUTAGE = 10**6


#: What a step of the plan does to the stack (turns a fault on, or ends an outage).
FaultAction = Callable[[LocalStack], None]


@dataclass(frozen=True)
class FaultStep:
    """At ``at`` (a fraction of the deliveries), do ``action``. An outage lasts until ``until``; then the
    soak waits for the executions started meanwhile (so each meets the outage) and ends it with ``clear``."""

    at: float
    label: str
    action: FaultAction
    until: float | None = None
    clear: FaultAction | None = None
    #: For one large order alone: at the first one delivered at or after ``at`` outside any outage, the
    #: soak waits for every execution in flight, turns the fault on, delivers that order and waits for it.
    solo: bool = False


def _personalize(stack: LocalStack) -> Any:
    assert stack.personalize is not None
    return stack.personalize


def _segment(stack: LocalStack) -> Any:
    assert stack.segment is not None
    return stack.segment


def _personalize_fault(operation: str, error: str | None, count: int, delay: float = 0.0) -> FaultAction:
    return lambda s: _personalize(s).faults.add(operation, error, count=count, delay_seconds=delay)


def _segment_fault(api: str, status: int | None, count: int, delay: float = 0.0) -> FaultAction:
    return lambda s: _segment(s).faults.add(api, status=status, count=count, delay_seconds=delay)


def _together(*actions: FaultAction) -> FaultAction:
    def apply(s: LocalStack) -> None:
        for action in actions:
            action(s)

    return apply


def _clear_personalize_outage(s: LocalStack) -> None:
    injector = _personalize(s).faults
    for fault in _end_outages(injector):
        injector.add(**{k: v for k, v in fault.items() if k != "message"})


def _clear_segment_outage(s: LocalStack) -> None:
    injector = _segment(s).faults
    for fault in _end_outages(injector):
        injector.add_from_dict({k: v for k, v in fault.items() if v is not None})


def _second_call_throttled(s: LocalStack) -> None:
    """The next PutEvents call answered (1 ms late), the two after it throttled: queued before any fault
    still pending, so that they meet the large order's calls (the harness delivers it alone)."""
    injector = _personalize(s).faults
    waiting = injector.pending()
    injector.clear()
    injector.add("PutEvents", None, count=1, delay_seconds=0.001)  # lets the first call through
    injector.add("PutEvents", "ThrottlingException", count=2)  # the call and the SDK's one retry
    for fault in waiting:
        injector.add(**{k: v for k, v in fault.items() if k != "message"})


SLOW_LABEL = (
    f"answers slower than the {CLIENT_TIMEOUT:g} s client timeouts ({SLOW_ANSWER:g} s), one each: "
    "Profile API, tracking API (applied late), GetRecommendations, PutEvents (not applied)"
)
SECOND_CALL_LABEL = (
    "a large order's second PutEvents call: ThrottlingException x2 (the SDK's retry too), so the state "
    "machine retries Track after its first call was stored"
)


def fault_plan() -> list[FaultStep]:
    """Short bursts the retries absorb, slow answers, a large order's second call throttled, then four
    outages that outlast the retries."""
    return [
        FaultStep(
            0.04,
            "PutEvents ThrottlingException x3",
            _personalize_fault("PutEvents", "ThrottlingException", 3),
        ),
        FaultStep(
            0.08,
            "GetRecommendations 500 x3",
            _personalize_fault("GetRecommendations", "InternalServerError", 3),
        ),
        FaultStep(
            0.12,
            "Profile API 429 x2 then 503 x2",
            _together(_segment_fault("profile", 429, 2), _segment_fault("profile", 503, 2)),
        ),
        FaultStep(0.16, "tracking API 503 x3", _segment_fault("tracking", 503, 3)),
        FaultStep(
            0.20,
            SLOW_LABEL,
            _together(
                _segment_fault("profile", None, 1, SLOW_ANSWER),
                _segment_fault("tracking", None, 1, SLOW_ANSWER),
                _personalize_fault("GetRecommendations", None, 1, SLOW_ANSWER),
                _personalize_fault("PutEvents", "ServiceUnavailableException", 1, SLOW_ANSWER),
            ),
        ),
        FaultStep(0.24, SECOND_CALL_LABEL, _second_call_throttled, solo=True),
        FaultStep(
            0.28,
            "outage: PutEvents ThrottlingException",
            _personalize_fault("PutEvents", "ThrottlingException", OUTAGE),
            until=0.36,
            clear=_clear_personalize_outage,
        ),
        FaultStep(
            0.46,
            "outage: GetRecommendations 500",
            _personalize_fault("GetRecommendations", "InternalServerError", OUTAGE),
            until=0.52,
            clear=_clear_personalize_outage,
        ),
        FaultStep(
            0.62,
            "outage: Profile API 503",
            _segment_fault("profile", 503, OUTAGE),
            until=0.68,
            clear=_clear_segment_outage,
        ),
        FaultStep(
            0.78,
            "outage: tracking API 503",
            _segment_fault("tracking", 503, OUTAGE),
            until=0.84,
            clear=_clear_segment_outage,
        ),
    ]


def solo_slot(
    step: FaultStep, slots: Sequence[Sequence[Any]], facts: list[Generated], plan: list[FaultStep]
) -> int | None:
    """The slot of ``step``'s large order: the first valid one at or after ``step.at`` outside every outage
    of ``plan`` (a delivery of its first copy), else the last one before; None when there is none."""
    outages = [(o.at, o.until) for o in plan if o.until is not None]
    candidates = []
    for position, slot in enumerate(slots):
        fraction = position / len(slots)
        first = [d for d in slot if d.copy == 0 and len(facts[d.index].interactions()) >= LARGE_ORDER]
        if first and not any(start <= fraction < end for start, end in outages):
            candidates.append((fraction, position))
    after = [position for fraction, position in candidates if fraction >= step.at]
    if after:
        return after[0]
    return candidates[-1][1] if candidates else None


def put_events_calls(stack: LocalStack, message_id: str) -> list[str]:
    """Every PutEvents call that carried events of ``message_id``, in order: the first and last eventId
    suffix it carried and its answer, ``200`` or the error code, e.g. ``-0..-9 200`` (the local Personalize
    service's own request log)."""
    rows = _personalize(stack).query(
        "SELECT body, status, error_code FROM requests WHERE operation = 'PutEvents' AND body LIKE ?"
        " ORDER BY id",
        (f"%{message_id}%",),
    )
    calls = []
    for row in rows:
        events = json.loads(row["body"] or "{}").get("eventList") or []
        ids = [str(e.get("eventId", "")) for e in events if str(e.get("eventId", "")).startswith(message_id)]
        if ids:
            first, last = ids[0].removeprefix(message_id), ids[-1].removeprefix(message_id)
            calls.append(f"{first}..{last} {row['error_code'] or row['status']}")
    return calls


def _end_outages(injector: Any) -> list[dict[str, Any]]:
    """Drop every pending fault; the ones that were not outages, to be queued again."""
    pending = [fault for fault in injector.pending() if fault["count"] < OUTAGE // 2]
    injector.clear()
    return pending


def count_answers(stack: LocalStack, counter: Counter[str]) -> None:
    """Count in ``counter`` the faults both services hand out, by service, operation and error."""
    _count(_personalize(stack).faults, counter, "Personalize", lambda f: f.error or "slow")
    _count(_segment(stack).faults, counter, "Segment", lambda f: str(f.status or "slow"))


def clear_faults(stack: LocalStack) -> None:
    """End every fault of both services."""
    _personalize(stack).faults.clear()
    _segment(stack).faults.clear()


def _count(injector: Any, counter: Counter[str], name: str, key: Callable[[Any], str]) -> None:
    """Count the faults an injector hands out (an instance attribute shadows its ``take``)."""
    take = injector.take

    def counted(operation: str) -> Any:
        fault = take(operation)
        if fault is not None:
            counter[f"{name} {operation}: {key(fault)}"] += 1
        return fault

    injector.take = counted
