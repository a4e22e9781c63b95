"""The soak's deliveries: every message twice, as Segment's destination retries do, some copies overtaking
others and some arriving at the same moment; and how one delivery gets into the workflow, retried as
Segment retries a failed invoke.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from local_stack.lambda_runtime.invoker import InvocationError
from local_stack.traffic import LARGE_ORDER, Traffic, generate

#: Of the messages, the share whose two copies arrive at the same moment (two threads, racing).
TOGETHER = 0.25
#: Segment retries a failed invoke "for four hours with a randomized exponential backoff after each
#: attempt" (https://segment.com/docs/connections/destinations/, "Retries"). The soak compresses that into
#: a few attempts with short waits: a failure that lasts through them counts as never getting in.
ENTRY_ATTEMPTS = 5
ENTRY_BACKOFF = 0.01  # seconds before the second attempt, doubled after each one
#: The error the entry function raises for input it cannot process (a rejection, not an entry failure).
ENTRY_REJECTION = "InvalidSegmentEvent"


@dataclass(frozen=True)
class Delivery:
    index: int  # the message's position in the traffic
    copy: int  # 0 first delivery, 1 the redelivery
    message: Any


@dataclass(frozen=True)
class Schedule:
    """Slots in delivery order; the deliveries of one slot are handed over at the same moment."""

    slots: list[tuple[Delivery, ...]]
    out_of_order: int  # copies that arrive before the copy of a message first delivered earlier
    together: int  # messages whose two copies share a slot


def deliveries(messages: list[Any], rng: random.Random, together: float = TOGETHER) -> Schedule:
    """Every message twice: both copies at once (``together`` of them), else the copy a few slots later
    (70 %) or many (30 %). Seeded: the same ``rng`` state gives the same schedule."""
    slots: list[tuple[float, int, tuple[Delivery, ...]]] = []
    pairs = 0
    for index, message in enumerate(messages):
        first, copy = Delivery(index, 0, message), Delivery(index, 1, message)
        if rng.random() < together:
            slots.append((float(index), 0, (first, copy)))
            pairs += 1
            continue
        slots.append((float(index), 0, (first,)))
        lag = rng.randint(1, 6) if rng.random() < 0.7 else rng.randint(15, 60)
        slots.append((index + lag + rng.random(), 1, (copy,)))
    slots.sort(key=lambda slot: (slot[0], slot[1]))
    copies = [slot[2][-1].index for slot in slots if slot[2][-1].copy == 1 and len(slot[2]) == 1]
    overtaken = sum(1 for i, later in enumerate(copies[1:], 1) if later < max(copies[:i]))
    return Schedule([slot[2] for slot in slots], overtaken, pairs)


def traffic(events: int, seed: int) -> Traffic:
    """At least ``events`` generated messages: the whole traffic of just enough visitors (not cut: a visitor's
    second session, the identified one, comes last), with orders of more than 10 products (the first order
    and every third), and at least one of them from a known user."""
    users = max(1, events // 30)
    while True:
        generated = generate(
            seed,
            users=users,
            anonymous=users // 4,
            sessions_per_visitor=2,
            malformed=5,
            large_order_every=3,
        )
        large = [f for f in generated.facts if len(f.interactions()) >= LARGE_ORDER and f.user_id]
        if len(generated.messages) >= events and large:
            return generated
        users += 1


@dataclass
class Answer:
    """What one delivery came to at the entry function (after Segment's retries)."""

    delivery: Delivery
    status: str  # "started" | "duplicate" | "skipped" | "rejected" | "failed"
    execution_arn: str | None = None
    reason: str | None = None
    failed_attempts: int = 0  # entry invocations that failed before this answer
    errors: list[str] = field(default_factory=list)  # each failed attempt's error


def deliver(engine: Any, delivery: Delivery) -> Answer:
    """Hand one delivery to the entry function, as Segment's destination does: an invoke that fails is
    retried (backoff, at most ``ENTRY_ATTEMPTS``); a refusal of the input (``InvalidSegmentEvent``, or an
    item answered ``"status": "rejected"``) is final."""
    errors: list[str] = []
    for attempt in range(ENTRY_ATTEMPTS):
        if attempt:
            time.sleep(ENTRY_BACKOFF * 2 ** (attempt - 1))
        try:
            answer = engine.deliver(delivery.message)
        except InvocationError as error:
            if error.payload.get("errorType") == ENTRY_REJECTION:
                return Answer(delivery, "rejected", reason=f"entry: {error}", failed_attempts=len(errors))
            errors.append(str(error))
            continue
        return _answered(delivery, answer, errors)
    return Answer(delivery, "failed", reason=errors[-1], failed_attempts=len(errors), errors=errors)


def _answered(delivery: Delivery, answer: Any, errors: list[str]) -> Answer:
    """The entry function's answer ``{"started": [item]}`` for one message: started, a duplicate (the
    execution of that name exists), skipped (never an interaction: no execution) or rejected with a reason
    (input parked in the dead-letter queue)."""
    (item,) = answer["started"]
    status = str(item.get("status"))
    if status in ("rejected", "skipped"):
        return Answer(delivery, status, reason=f"entry: {item.get('reason')}", failed_attempts=len(errors))
    arn = item.get("executionArn")
    if status not in ("started", "duplicate") or not isinstance(arn, str):
        return Answer(delivery, "failed", reason=f"entry answered {item!r}", failed_attempts=len(errors))
    return Answer(delivery, status, execution_arn=arn, failed_attempts=len(errors), errors=errors)
