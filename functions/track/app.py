"""Track: send a message's interactions to Amazon Personalize through the event tracker (PutEvents).

Each PutEvents call (at most 10 events) is an idempotent unit keyed on the tracking id and its eventIds
(``segment_personalize.adapters.idempotency``): when the state machine retries a Track whose second call was
throttled, the first call is not sent again; when Segment redelivers a message into a second execution
(Express workflows do not dedupe by name), nothing is sent again. The result is the same on every repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from segment_personalize.adapters.clients import PERSONALIZE_CALL, client, unit_of_work_seconds
from segment_personalize.adapters.idempotency import Idempotency
from segment_personalize.adapters.interfaces import EventTracker, OncePerKey
from segment_personalize.adapters.personalize import PersonalizeEvents, check_put_events
from segment_personalize.config import TrackSettings, load
from segment_personalize.contract import TrackInput, TrackResult
from segment_personalize.errors import StepOutOfTime
from segment_personalize.limits import MAX_EVENTS_PER_CALL
from segment_personalize.observability import MetricUnit, handler, logger, metrics

#: Prefix of the idempotency record ids of PutEvents calls. Never change it: records written under the old
#: prefix would no longer be found, and the events of the last 24 h could be sent again.
IDEMPOTENCY_KEY_PREFIX = "segment-personalize.track.PutEvents"

settings = load(TrackSettings)
personalize: EventTracker = PersonalizeEvents(
    client("personalize-events", PERSONALIZE_CALL.with_read(settings.timeout))
)
idempotency: OncePerKey = Idempotency.from_table(
    settings.idempotency_table, key_prefix=IDEMPOTENCY_KEY_PREFIX, what="may send its events to Personalize"
)
#: One PutEvents batch at worst (its idempotency record, the call, the record completed), in milliseconds:
#: a batch is not begun with less of the invocation left.
BATCH_WORST_CASE_MS = 1000 * unit_of_work_seconds("track", {"PERSONALIZE_TIMEOUT": settings.timeout})

RemainingMs = Callable[[], int]


def track(
    request: TrackInput,
    tracking_id: str,
    events: EventTracker,
    once: OncePerKey,
    remaining_ms: RemainingMs | None = None,
) -> tuple[TrackResult, int]:
    """PutEvents for every interaction, at most 10 a call, each call at most once; the Track result of the
    contract, and how many of its calls had already been made (answered from their idempotency records).

    With ``remaining_ms`` (the invocation's time left), a batch after the first is begun only with
    :data:`BATCH_WORST_CASE_MS` left; else :class:`StepOutOfTime`, and the retry carries on from there."""
    event_list = [interaction.to_put_event() for interaction in request.interactions]
    check_put_events(request.session_id, request.user_id, event_list)  # an invalid event sends nothing
    calls = replayed = 0
    for start in range(0, len(event_list), MAX_EVENTS_PER_CALL):
        left = remaining_ms() if start and remaining_ms is not None else None
        if left is not None and left < BATCH_WORST_CASE_MS:
            raise StepOutOfTime(
                f"Track: {left} ms left, a PutEvents batch may take {BATCH_WORST_CASE_MS:.0f} ms; "
                f"{start} of {len(event_list)} events sent, the retry sends the rest"
            )
        batch = event_list[start : start + MAX_EVENTS_PER_CALL]
        event_ids = [event["eventId"] for event in batch]

        def put_batch(batch: list[dict[str, Any]] = batch, ids: list[str] = event_ids) -> dict[str, Any]:
            events.put_batch(
                tracking_id=tracking_id, session_id=request.session_id, user_id=request.user_id, events=batch
            )
            return {"eventIds": ids, "calls": 1}

        outcome = once.once({"trackingId": tracking_id, "eventIds": event_ids}, put_batch)
        calls += int(outcome.result["calls"])
        replayed += outcome.replayed
    result = TrackResult(
        message_id=request.message_id,
        tracked=len(event_list),
        calls=calls,
        event_ids=[interaction.event_id for interaction in request.interactions],
    )
    return result, replayed


@handler(traces=("botocore",))
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    request = TrackInput.model_validate(event)
    result, replayed = track(
        request, settings.tracking_id, personalize, idempotency, context.get_remaining_time_in_millis
    )
    metrics.add_metric(name="EventsTracked", unit=MetricUnit.Count, value=result.tracked)
    if replayed:
        metrics.add_metric(name="PutEventsCallsReplayed", unit=MetricUnit.Count, value=replayed)
    logger.info(
        "tracked interactions",
        extra={"tracked": result.tracked, "calls": result.calls, "callsReplayed": replayed},
    )
    return result.to_dict()
