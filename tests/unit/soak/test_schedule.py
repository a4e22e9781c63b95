"""The soak's schedule alone: the copies of each message and the fault plan's order (marker ``unit``)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from soak.deliveries import deliveries
from soak.faults import fault_plan

pytestmark = pytest.mark.unit


def test_every_message_comes_twice_the_copy_after_the_first_and_some_copies_overtake() -> None:
    messages = [{"messageId": f"m-{index}"} for index in range(200)]
    schedule, out_of_order = deliveries(messages, random.Random(3))
    assert Counter(d.index for d in schedule) == {index: 2 for index in range(200)}
    position = {(d.index, d.copy): at for at, d in enumerate(schedule)}
    assert all(position[(index, 0)] < position[(index, 1)] for index in range(200))
    assert all(d.message is messages[d.index] for d in schedule)
    assert out_of_order > 0


def test_the_same_seed_gives_the_same_schedule() -> None:
    messages = list(range(50))
    first, _ = deliveries(messages, random.Random(9))
    again, _ = deliveries(messages, random.Random(9))
    assert [(d.index, d.copy) for d in first] == [(d.index, d.copy) for d in again]


def test_the_fault_plan_is_in_order_and_its_outages_end_before_the_next_one() -> None:
    plan = fault_plan()
    assert [step.at for step in plan] == sorted(step.at for step in plan)
    outages = [step for step in plan if step.until is not None]
    assert len(outages) == 4
    ends = [step.until for step in outages if step.until is not None]
    # one outage at a time: the harness waits for the executions an outage met before the next one starts
    assert all(o.at < end <= n.at for o, end, n in zip(outages, ends, outages[1:], strict=False))
    assert all(step.clear is not None and "outage" in step.label for step in outages)
