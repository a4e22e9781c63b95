"""Bugs planted one at a time to prove that the soak fails on each (tests/e2e/soak/test_planted_bugs.py).

Each is a mutation made in a fake or a wrapper, never by editing the source:

* handler-side ones are **sandbox hooks** (``LocalStack(sandbox_hooks={"validate": [HOOK]})``): called with
  ``functions.<name>.app`` right after a sandbox imports it, they replace one of the module's globals (its
  logic function or an adapter). The module is imported afresh for the next stack, so nothing outlives it;
* soak-side ones wrap a boto3 client the soak itself uses (``run_soak(wrap_client=...)``).

:data:`HANDLER_BUGS` and :data:`SOAK_BUGS` name them; their unit tests (tests/unit/soak/test_planted_bugs.py)
check that each really breaks what it says, so that a soak passing with one planted cannot be a plant that
did nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from segment.analytics.client import Client

from segment_personalize.errors import InvalidSegmentEvent
from segment_personalize.limits import MAX_EVENTS_PER_CALL

_HERE = __name__


def validate_first_product_only(module: Any) -> None:
    """Validate keeps only the first product of an order (its result shrinks with it)."""
    original = module.validate_payload

    def first_product_only(payload: object, settings: Any) -> Any:
        result = original(payload, settings)
        per_product = [i for i in result.interactions if i.event_id != result.message_id]
        if len(per_product) < 2:
            return result
        return result.model_copy(update={"interactions": per_product[:1]})

    module.validate_payload = first_product_only


def validate_rejects_order_completed(module: Any) -> None:
    """Validate rejects every Order Completed, with a reason (the workflow ends in Rejected)."""
    original = module.validate_payload

    def rejecting(payload: object, settings: Any) -> Any:
        event = payload.get("event") if isinstance(payload, Mapping) else None
        if isinstance(event, Mapping) and event.get("event") == "Order Completed":
            raise InvalidSegmentEvent("event: Order Completed is not accepted (a planted bug)")
        return original(payload, settings)

    module.validate_payload = rejecting


def one_in_five(name: str) -> bool:
    """Whether an execution name is one of the fifth whose StartExecution always fails."""
    return hashlib.sha256(name.encode()).digest()[0] % 5 == 0


class _FailingStarts:
    """A Step Functions client whose StartExecution is throttled, every time, for one name in five."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> Mapping[str, Any]:  # noqa: N803, A002 - boto3's names
        if one_in_five(name):
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded (a planted bug)"}}
            raise ClientError(error, "StartExecution")  # type: ignore[arg-type]
        return dict(self.client.start_execution(stateMachineArn=stateMachineArn, name=name, input=input))


def entry_start_fails_one_in_five(module: Any) -> None:
    """The entry function's StartExecution fails for one message in five, on every delivery."""
    module.sfn = _FailingStarts(module.sfn)


def entry_skips_order_completed(module: Any) -> None:
    """The entry function reads INTERACTION_EVENTS without Order Completed: it answers every order skipped
    and starts nothing for it (Validate still has the whole list)."""
    events = [name for name in module.settings.interaction_events if name != "Order Completed"]
    module.settings = module.settings.model_copy(update={"interaction_events": events})


def track_first_batch_only(module: Any) -> None:
    """Track sends only the first PutEvents call of a message (10 events) and says it sent them all."""
    original = module.track

    def first_batch(request: Any, *args: Any) -> Any:
        cut = request.model_copy(update={"interactions": request.interactions[:MAX_EVENTS_PER_CALL]})
        result, replayed = original(cut, *args)
        everything = [interaction.event_id for interaction in request.interactions]
        return result.model_copy(update={"tracked": len(everything), "event_ids": everything}), replayed

    module.track = first_batch


class _NeverFlushed:
    """segment-analytics-python in its default, queued mode, in a Lambda that freezes when it returns: the
    identify is queued (the library says it was accepted) and its consumer never sends it."""

    def __init__(self, write_key: str, host: str) -> None:
        self.client = Client(write_key, host=host, sync_mode=False, send=True, thread=0)
        self.client.consumers = []  # no consumer thread (the library sets the list only when it makes one)

    def identify(self, **message: Any) -> None:
        accepted, _ = self.client.identify(**message)
        assert accepted  # queued, never flushed


def sync_profile_never_flushes(module: Any) -> None:
    """SyncProfile queues its identify in the library and returns without flushing it."""
    real = module.segment.client
    module.segment = _NeverFlushed(real.write_key, real.host)


class _EveryTime:
    """An idempotency adapter that runs the work every time (no record)."""

    def register_lambda_context(self, context: Any) -> None:
        del context

    def once(self, key: Mapping[str, Any], work: Callable[[], dict[str, Any]]) -> Any:
        from segment_personalize.adapters.idempotency import Once

        del key
        return Once(work(), replayed=False)


def sync_profile_not_idempotent(module: Any) -> None:
    """SyncProfile keeps no idempotency record: a retried or redelivered step sends its identify again."""
    module.idempotency = _EveryTime()


#: Every handler-side bug: its name -> (the function it is planted in, the sandbox hook).
HANDLER_BUGS: dict[str, tuple[str, str]] = {
    "Validate keeps only the first product of an order": ("validate", f"{_HERE}:validate_first_product_only"),
    "Validate rejects every Order Completed": ("validate", f"{_HERE}:validate_rejects_order_completed"),
    "StartExecution fails for one message in five": ("entry", f"{_HERE}:entry_start_fails_one_in_five"),
    "Entry skips every Order Completed": ("entry", f"{_HERE}:entry_skips_order_completed"),
    "Track sends only the first PutEvents batch": ("track", f"{_HERE}:track_first_batch_only"),
    "SyncProfile never flushes": ("sync_profile", f"{_HERE}:sync_profile_never_flushes"),
    "SyncProfile is not idempotent": ("sync_profile", f"{_HERE}:sync_profile_not_idempotent"),
}
#: The STANDARD workflow's name dedupe, turned off: the soak's own EXPRESS emulation, planted in STANDARD.
NO_NAME_DEDUPE = ("entry", "soak.emulation:express_starts")


class _NeverDeletes:
    """An SQS client whose DeleteMessage answers as if it deleted, and deletes nothing."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.deletes = 0

    def delete_message(self, **_: Any) -> dict[str, Any]:
        self.deletes += 1
        return {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def redrive_never_deletes(service: str, client: Any) -> Any:
    """``run_soak(wrap_client=...)``: the redrive's SQS client never deletes a dead letter."""
    return _NeverDeletes(client) if service == "sqs" else client
