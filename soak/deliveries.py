"""The soak's deliveries: every message twice, as Segment's destination retries do, some copies overtaking
others; and how one delivery reaches the workflow (STANDARD, or EXPRESS emulated)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from local_stack.lambda_runtime.invoker import InvocationError
from local_stack.traffic import generate
from segment_personalize.executions import suffixed_execution_name

REDELIVERY_SUFFIX = "-redelivery"


@dataclass(frozen=True)
class Delivery:
    index: int  # the message's position in the traffic
    copy: int  # 0 first delivery, 1 the redelivery
    message: Any


def deliveries(messages: list[Any], rng: random.Random) -> tuple[list[Delivery], int]:
    """Every message twice: the copy a few deliveries later (70 %) or many (30 %). Returns the schedule and
    how many copies arrive out of order (before the copy of a message that was first delivered earlier)."""
    slots: list[tuple[float, int, Delivery]] = []
    for index, message in enumerate(messages):
        slots.append((float(index), 0, Delivery(index, 0, message)))
        lag = rng.randint(1, 6) if rng.random() < 0.7 else rng.randint(15, 60)
        slots.append((index + lag + rng.random(), 1, Delivery(index, 1, message)))
    slots.sort(key=lambda slot: (slot[0], slot[1]))
    schedule = [slot[2] for slot in slots]
    copies = [d.index for d in schedule if d.copy == 1]
    overtaken = sum(1 for i, later in enumerate(copies[1:], 1) if later < max(copies[:i]))
    return schedule, overtaken


def traffic_messages(events: int, seed: int) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """At least ``events`` generated messages: the whole traffic of just enough visitors (not cut: a visitor's
    second session, the identified one, comes last), and the product catalog."""
    users = max(1, events // 30)
    while True:
        traffic = generate(seed, users=users, anonymous=users // 4, sessions_per_visitor=2, malformed=5)
        if len(traffic.messages) >= events:
            return traffic.messages, traffic.items_catalog()
        users += 1


def deliver(engine: Any, delivery: Delivery, workflow: str, entry_rejections: dict[int, str]) -> str | None:
    """Hand one delivery to the workflow; the execution ARN, or None when the entry function refused it."""
    message = delivery.message
    if workflow == "EXPRESS" and delivery.copy == 1:
        if delivery.index in entry_rejections:
            return None  # the entry function refuses the copy as it refused the first
        return str(engine.start(message, suffixed_execution_name(message["messageId"], REDELIVERY_SUFFIX)))
    try:
        answer = engine.deliver(message)
    except InvocationError as error:
        entry_rejections[delivery.index] = f"entry: {error}"
        return None
    (started,) = answer["started"]
    if started["status"] == "rejected":  # parked in the dead-letter queue with its reason
        entry_rejections[delivery.index] = f"entry: parked: {started['reason']}"
        return None
    return str(started["executionArn"])
