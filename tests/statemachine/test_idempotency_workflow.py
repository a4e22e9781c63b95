"""Idempotent Track through the real state machine: retries and redeliveries send no event twice.

The engine runs with ``IDEMPOTENCY_TABLE`` set and the table created in its moto DynamoDB (key ``id``), as
the SAM template deploys it. Track's Personalize adapter is a fake (``tests/fakes``) that counts the PutEvents
calls.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local_stack.stepfunctions.engine import LocalEngine
from segment_personalize.errors import PersonalizeThrottled
from tests.events import load_event
from tests.fakes.idempotency import TABLE, create_table
from tests.fakes.personalize import FakeEventTracker

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def idempotent_engine() -> Iterator[LocalEngine]:
    with LocalEngine(skip_retry_waits=True, env={"IDEMPOTENCY_TABLE": TABLE}) as running:
        create_table(boto3.client("dynamodb", region_name=running.region))
        yield running


@pytest.fixture
def events(idempotent_engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> FakeEventTracker:
    idempotent_engine.reset()
    fake = FakeEventTracker()
    monkeypatch.setattr(idempotent_engine.functions["track"], "personalize", fake)
    return fake


def anonymous_order(message_id: str, products: int) -> dict[str, Any]:
    """An Order Completed of an anonymous visitor: the workflow ends after Track, in ``Tracked``."""
    message = copy.deepcopy(load_event("order_completed"))
    message.pop("userId")
    message["messageId"] = message_id
    message["properties"]["products"] = [{"product_id": f"p-{i}", "price": 1} for i in range(products)]
    return message


def batches(message_id: str, count: int) -> list[list[str]]:
    ids = [f"{message_id}-{i}" for i in range(count)]
    return [ids[start : start + 10] for start in range(0, count, 10)]


def test_a_track_retried_after_a_throttled_second_call_resends_only_what_failed(
    idempotent_engine: LocalEngine, events: FakeEventTracker
) -> None:
    # given call 2 of 3 is throttled once
    events.failures["o1-10"] = PersonalizeThrottled("PutEvents failed: ThrottlingException (HTTP 400)")
    # when the workflow runs (the state machine retries Track)
    description = idempotent_engine.run(anonymous_order("o1", 23))
    # then it ends Tracked, and every batch reached Personalize exactly once
    assert description["status"] == "SUCCEEDED"
    assert events.sent == batches("o1", 23)
    assert events.attempts == [*batches("o1", 23)[:2], *batches("o1", 23)[1:]]
    assert description["output"]["tracked"] == {
        "messageId": "o1",
        "tracked": 23,
        "calls": 3,
        "eventIds": [f"o1-{i}" for i in range(23)],
    }


def test_a_redelivery_in_a_second_execution_sends_nothing(
    idempotent_engine: LocalEngine, events: FakeEventTracker
) -> None:
    # given a message tracked by one execution
    first = idempotent_engine.run(anonymous_order("o2", 12))
    # when Segment redelivers it and (as in an Express workflow) a second execution runs
    second_arn = idempotent_engine.start(anonymous_order("o2", 12), name="o2-redelivered")
    second = idempotent_engine.wait(second_arn, timeout=30)
    # then nothing was sent again and both executions answered alike
    assert events.sent == batches("o2", 12)
    assert first["output"]["tracked"] == second["output"]["tracked"]
    assert second["status"] == "SUCCEEDED"
