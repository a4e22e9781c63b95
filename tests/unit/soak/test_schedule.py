"""The soak's schedule alone: the copies of each message and the fault plan's order (marker ``unit``)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from local_stack.traffic import Generated
from soak.deliveries import deliveries
from soak.faults import fault_plan, solo_slot
from soak.harness import run_soak

pytestmark = pytest.mark.unit


def test_every_message_comes_twice_some_at_the_same_moment_the_others_after_and_some_overtake() -> None:
    messages = [{"messageId": f"m-{index}"} for index in range(200)]
    schedule = deliveries(messages, random.Random(3))
    copies = [d for slot in schedule.slots for d in slot]
    assert Counter(d.index for d in copies) == {index: 2 for index in range(200)}
    position = {(d.index, d.copy): at for at, slot in enumerate(schedule.slots) for d in slot}
    together = [index for index in range(200) if position[(index, 0)] == position[(index, 1)]]
    assert all(position[(index, 0)] < position[(index, 1)] for index in set(range(200)) - set(together))
    assert len(together) == schedule.together
    assert 30 < schedule.together < 70  # a quarter of them, seeded
    assert all(
        len(slot) == 2 and {d.copy for d in slot} == {0, 1} for slot in schedule.slots if len(slot) > 1
    )
    assert all(d.message is messages[d.index] for d in copies)
    assert schedule.out_of_order > 0


def test_the_same_seed_gives_the_same_schedule() -> None:
    messages = list(range(50))
    first = deliveries(messages, random.Random(9))
    again = deliveries(messages, random.Random(9))
    assert [[(d.index, d.copy) for d in s] for s in first.slots] == [
        [(d.index, d.copy) for d in s] for s in again.slots
    ]


def test_the_fault_plan_is_in_order_and_its_outages_end_before_the_next_one() -> None:
    plan = fault_plan()
    assert [step.at for step in plan] == sorted(step.at for step in plan)
    outages = [step for step in plan if step.until is not None]
    assert len(outages) == 4
    ends = [step.until for step in outages if step.until is not None]
    # one outage at a time: the harness waits for the executions an outage met before the next one starts
    assert all(o.at < end <= n.at for o, end, n in zip(outages, ends, outages[1:], strict=False))
    assert all(step.clear is not None and "outage" in step.label for step in outages)
    assert [step.label for step in plan if step.solo] == [
        "a large order's second PutEvents call: ThrottlingException x2 (the SDK's retry too), so the state "
        "machine retries Track after its first call was stored"
    ]


def _order(items: int) -> Generated:
    skus = tuple(f"SKU-{i}" for i in range(items))
    return Generated("m", "track", "Order Completed", "u", "a", skus, per_product=True)


def test_the_large_order_step_takes_the_first_large_order_after_its_moment_outside_every_outage() -> None:
    (solo,) = [step for step in fault_plan() if step.solo]
    plan = [step for step in fault_plan() if not step.solo]
    facts = [_order(11) if index in (5, 30, 60) else _order(3) for index in range(100)]
    slots = [(_Delivery(index, 0),) for index in range(100)]
    assert solo_slot(solo, slots, facts, plan) == 60  # 30 falls in the PutEvents outage (0.28 - 0.36)
    facts[60] = _order(3)
    assert solo_slot(solo, slots, facts, plan) == 5  # none after it: the last one before
    assert solo_slot(solo, slots, [_order(10)] * 100, plan) is None


class _Delivery:
    def __init__(self, index: int, copy: int) -> None:
        self.index, self.copy = index, copy


def test_an_unknown_workflow_type_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="STANDARD"):
        run_soak("SYNC")
