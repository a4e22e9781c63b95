"""Each planted bug of tests/fakes/planted_bugs.py really breaks what it says (marker ``unit``), so that a
soak that passes with one planted cannot be a plant that did nothing (the soaks: tests/e2e/soak)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from segment_personalize.errors import InvalidSegmentEvent
from tests.events import load_event
from tests.fakes import planted_bugs
from tests.fakes.personalize import FakeEventTracker
from tests.fakes.planted_bugs import HANDLER_BUGS, NO_NAME_DEDUPE

pytestmark = pytest.mark.unit


def test_every_handler_bug_names_a_hook_of_this_module_for_a_real_function() -> None:
    from functions import FUNCTIONS

    for function, hook in [*HANDLER_BUGS.values(), NO_NAME_DEDUPE]:
        assert function in FUNCTIONS
        module, _, name = hook.partition(":")
        assert callable(getattr(__import__(module, fromlist=[name]), name))


def order(products: int) -> dict[str, Any]:
    event = load_event("order_completed")
    template = event["properties"]["products"][0]
    event["properties"]["products"] = [
        {**template, "product_id": f"p{i}", "sku": f"p{i}"} for i in range(products)
    ]
    return {"messageId": event["messageId"], "event": event}


def test_validate_keeps_only_the_first_product_of_an_order(
    load_app: Callable[..., ModuleType], lambda_context: Any
) -> None:
    validate = load_app("validate")
    assert len(validate.lambda_handler(order(3), lambda_context)["interactions"]) == 3
    single = {"messageId": "m1", "event": load_event("track_sku")}
    planted_bugs.validate_first_product_only(validate)
    (kept,) = validate.lambda_handler(order(3), lambda_context)["interactions"]
    assert kept["itemId"] == "p0"
    assert len(validate.lambda_handler(single, lambda_context)["interactions"]) == 1


def test_validate_rejects_every_order_completed(
    load_app: Callable[..., ModuleType], lambda_context: Any
) -> None:
    validate = load_app("validate")
    planted_bugs.validate_rejects_order_completed(validate)
    with pytest.raises(InvalidSegmentEvent, match="planted"):
        validate.lambda_handler(order(2), lambda_context)
    single = {"messageId": "m1", "event": load_event("track_sku")}
    assert validate.lambda_handler(single, lambda_context)["status"] == "accepted"


def test_entry_skips_every_order_completed(load_app: Callable[..., ModuleType], lambda_context: Any) -> None:
    entry: Any = load_app(
        "entry",
        STATE_MACHINE_ARN="arn:aws:states:us-east-1:123456789012:stateMachine:sp",
        DEAD_LETTER_QUEUE_URL="https://sqs.local/dlq",
    )
    starts = Starts()
    entry.sfn = starts
    planted_bugs.entry_skips_order_completed(entry)
    (skipped,) = entry.lambda_handler(load_event("order_completed"), lambda_context)["started"]
    assert skipped["status"] == "skipped"
    assert skipped["reason"] == "event 'Order Completed' is not in INTERACTION_EVENTS"
    (started,) = entry.lambda_handler(load_event("track_sku"), lambda_context)["started"]
    assert started["status"] == "started"
    assert starts.names == [load_event("track_sku")["messageId"]]


class Starts:
    def __init__(self) -> None:
        self.names: list[str] = []

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:  # noqa: N803, A002
        self.names.append(name)
        return {"executionArn": f"{stateMachineArn}:{name}"}


def test_start_execution_fails_for_one_message_in_five_every_time() -> None:
    class App:
        sfn: Any = Starts()

    real = App.sfn
    planted_bugs.entry_start_fails_one_in_five(App)
    names = [f"ajs-{i}" for i in range(1000)]
    failed = {name for name in names if planted_bugs.one_in_five(name)}
    for name in names * 2:  # every delivery of a failing name fails
        if name in failed:
            with pytest.raises(ClientError, match="ThrottlingException"):
                App.sfn.start_execution(stateMachineArn="arn:sm", name=name, input="{}")
        else:
            App.sfn.start_execution(stateMachineArn="arn:sm", name=name, input="{}")
    assert 150 < len(failed) < 250
    assert len(real.names) == 2 * (1000 - len(failed))


def test_track_sends_only_the_first_put_events_batch(
    load_app: Callable[..., ModuleType], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    track = load_app("track", PERSONALIZE_TRACKING_ID="tracker")
    events = FakeEventTracker()
    monkeypatch.setattr(track, "personalize", events)
    interactions = [
        {"eventId": f"m1-{i}", "eventType": "Order Completed", "itemId": f"sku-{i}", "sentAt": 1700000000.0}
        for i in range(23)
    ]
    payload = {"messageId": "m1", "userId": "u1", "sessionId": "a1", "interactions": interactions}
    planted_bugs.track_first_batch_only(track)
    result = track.lambda_handler(payload, lambda_context)
    assert events.sent == [[f"m1-{i}" for i in range(10)]]
    assert result["tracked"] == 23  # and it says it sent them all
    assert result["eventIds"] == [f"m1-{i}" for i in range(23)]


def test_sync_profile_never_flushes_its_identify(
    load_app: Callable[..., ModuleType], lambda_context: Any, http_server: Any
) -> None:
    sync = load_app("sync_profile", SEGMENT_WRITE_KEY="wk", SEGMENT_HOST=http_server.url, SEGMENT_TIMEOUT="1")
    planted_bugs.sync_profile_never_flushes(sync)
    payload = {"messageId": "m1", "userId": "u1", "itemIds": ["a"], "recommendationId": "R"}
    result = sync.lambda_handler(payload, lambda_context)
    assert result["count"] == 1  # it says it synced
    assert http_server.requests == []  # nothing reached Segment
    assert sync.segment.client.queue.qsize() == 1  # the identify waits in the library's queue


def test_sync_profile_keeps_no_idempotency_record() -> None:
    class App:
        idempotency: Any = None

    planted_bugs.sync_profile_not_idempotent(App)
    runs: list[int] = []

    def work() -> dict[str, Any]:
        runs.append(1)
        return {"runs": len(runs)}

    outcomes = [App.idempotency.once({"messageId": "m1"}, work) for _ in range(2)]
    assert [(o.result, o.replayed) for o in outcomes] == [({"runs": 1}, False), ({"runs": 2}, False)]


def test_the_redrive_never_deletes_a_dead_letter() -> None:
    class Sqs:
        deleted: list[str] = []

        def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:  # noqa: N803
            self.deleted.append(ReceiptHandle)
            return {}

        def receive_message(self, **_: Any) -> dict[str, Any]:
            return {"Messages": [{"Body": json.dumps({"messageId": "m1"})}]}

    real = Sqs()
    wrapped = planted_bugs.redrive_never_deletes("sqs", real)
    assert wrapped.delete_message(QueueUrl="q", ReceiptHandle="r") == {}
    assert real.deleted == []
    assert wrapped.receive_message()["Messages"]
    assert planted_bugs.redrive_never_deletes("stepfunctions", real) is real
