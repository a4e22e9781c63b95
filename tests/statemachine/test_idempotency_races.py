"""Two copies of one Segment message at the same moment: the race that Express workflows and Segment's
redeliveries make happen, run as Lambda runs it (each function in its own sandboxes, at once).

Step Functions Express does not dedupe executions by name ("Starting multiple workflows with the same name
results in concurrent executions", https://docs.aws.amazon.com/step-functions/latest/dg/
express-at-least-once-execution.html), so two executions of one message run Track and SyncProfile at the
same time. Each PutEvents call (at most 10 events) and the identify are idempotent units on DynamoDB
(moto, through its server): the copy that comes second finds the first one's record *in progress* and gets
``StepAlreadyInProgress``, which the ASL retries; by then the record is complete and answers it. What
reached Personalize and Segment is counted at the local services (Personalize's request log, Segment's
stored messages with their duplicate count), not by the handlers.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from local_stack.stack import LocalStack
from tests.events import load_event

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(180)]

#: Products in the order: two PutEvents calls (10 + 2 events).
PRODUCTS = 12
#: The first PutEvents call answers this late: the first copy holds its record in progress that long.
FIRST_CALL_DELAY = 0.5


def _order(message_id: str) -> dict[str, Any]:
    message = load_event("order_completed")
    template = message["properties"]["products"][0]
    message["messageId"] = message_id
    message["properties"]["products"] = [
        {**template, "product_id": f"race-product-{index:02d}", "sku": f"RACE-{index:02d}"}
        for index in range(PRODUCTS)
    ]
    return message


def _start_at_once(engine: Any, messages: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Start an execution of each message (by copy name) at the same moment; their ARNs."""
    from segment_personalize.executions import execution_input

    barrier = threading.Barrier(len(messages))
    arns: dict[str, str] = {}

    def start(copy: str, message: dict[str, Any]) -> None:
        barrier.wait()
        body = execution_input(message["messageId"], message)
        arns[copy] = engine.start_input(body, f"{message['messageId']}-{copy}")

    threads = [threading.Thread(target=start, args=item) for item in messages.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return arns


def test_two_copies_of_a_message_race_through_track_and_sync_profile_and_send_once(tmp_path: Path) -> None:
    # real backoff waits: the copy that comes second must wait for the first one's records to complete
    with LocalStack(tmp_path, warm_sandboxes=2) as stack:
        engine, personalize, segment = stack.engine, stack.personalize, stack.segment
        assert engine is not None
        assert personalize is not None
        assert segment is not None
        # given two sandboxes of every function that have each run once (so that neither copy is slowed
        # by a first call), and a first PutEvents call that answers late
        warm_up = _start_at_once(engine, {"a": _order("race-warm-a"), "b": _order("race-warm-b")})
        assert [engine.wait(arn, timeout=120)["status"] for arn in warm_up.values()] == ["SUCCEEDED"] * 2
        message = _order("race-order-1")
        assert stack.send_to_segment(message) is None
        personalize.faults.add("PutEvents", delay_seconds=FIRST_CALL_DELAY, count=1)

        # when two executions of the same message start at the same moment, under different names
        arns = _start_at_once(engine, {"a": message, "b": message})
        descriptions = {copy: engine.wait(arn, timeout=120) for copy, arn in arns.items()}

        # then both succeed
        assert {copy: d["status"] for copy, d in descriptions.items()} == {"a": "SUCCEEDED", "b": "SUCCEEDED"}
        # one of them met the other's record in progress, and was retried
        errors = Counter(
            event["lambdaFunctionFailedEventDetails"]["error"]
            for arn in arns.values()
            for event in engine.history(arn)
            if event["type"] == "LambdaFunctionFailed"
        )
        assert errors["StepAlreadyInProgress"] >= 1, errors
        # Personalize got one PutEvents per batch, and each event once
        calls = personalize.query("SELECT body FROM requests WHERE operation = 'PutEvents' AND status = 200")
        every_batch = [[e["eventId"] for e in json.loads(call["body"])["eventList"]] for call in calls]
        batches = [batch for batch in every_batch if batch[0].startswith("race-order-1")]
        assert sorted(len(batch) for batch in batches) == [PRODUCTS - 10, 10]
        sent = Counter(event_id for batch in batches for event_id in batch)
        assert len(sent) == PRODUCTS
        assert set(sent.values()) == {1}
        stored = personalize.query("SELECT event_id FROM events WHERE event_id LIKE 'race-order-1%'")
        assert Counter(row["event_id"] for row in stored) == sent
        # and Segment one identify, sent once
        synced = {d["output"]["synced"]["identifyMessageId"] for d in descriptions.values()}
        assert len(synced) == 1
        stored_identifies = segment.backend.messages("identify", with_meta=True)
        identifies = [m for m in stored_identifies if m["messageId"] in synced]
        assert [(m["messageId"], m["duplicates"]) for m in identifies] == [(next(iter(synced)), 0)]
