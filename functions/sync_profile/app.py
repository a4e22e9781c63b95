"""SyncProfile: write the recommended item ids to the visitor's Segment profile with one identify call.

The identify's messageId is derived from the Segment messageId, so Segment dedupes a repeat; with
``IDEMPOTENCY_TABLE`` set, a repeat (a retried step, a redelivered message in a second execution) is not even
sent: the stored result of the first sync is returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from segment_personalize.adapters.clients import secret_or_value
from segment_personalize.adapters.idempotency import Idempotency
from segment_personalize.adapters.interfaces import IdentifySender, OncePerKey
from segment_personalize.adapters.segment_identify import (
    MAX_MESSAGE_BYTES,
    SegmentIdentify,
    build_traits,
    message_size,
)
from segment_personalize.config import SyncProfileSettings, load
from segment_personalize.contract import SyncProfileInput, SyncProfileResult
from segment_personalize.errors import InvalidSegmentEvent
from segment_personalize.observability import MetricUnit, handler, logger, metrics

#: Namespace of the identify messageIds: uuid5(namespace, Segment messageId) is the same on every retry,
#: so Segment deduplicates a step that ran twice. Never change it.
IDENTIFY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "segment-personalize:sync_profile:identify")

#: Prefix of the idempotency record ids of identify calls. Never change it (records would not be found).
IDEMPOTENCY_KEY_PREFIX = "segment-personalize.sync_profile.identify"

settings = load(SyncProfileSettings)
segment: IdentifySender = SegmentIdentify.create(
    write_key=secret_or_value(settings.write_key, settings.write_key_secret_arn, "SEGMENT_WRITE_KEY"),
    host=settings.host,
    timeout=settings.timeout,
)
idempotency: OncePerKey = Idempotency.from_table(
    settings.idempotency_table, key_prefix=IDEMPOTENCY_KEY_PREFIX, what="may send its identify"
)


def identify_message_id(message_id: str) -> str:
    """The identify's messageId: a UUID derived from the Segment messageId, stable across retries."""
    return str(uuid.uuid5(IDENTIFY_NAMESPACE, message_id))


def fitting_count(size_with: Callable[[int], int], total: int, limit: int) -> int:
    """The largest n <= total with size_with(n) <= limit (size grows with n); raises if 0 is too big."""
    if size_with(total) <= limit:
        return total
    low, high = 0, total  # size_with(high) > limit
    if size_with(low) > limit:
        raise InvalidSegmentEvent(f"the identify exceeds Segment's {limit} bytes even without items")
    while high - low > 1:
        middle = (low + high) // 2
        if size_with(middle) <= limit:
            low = middle
        else:
            high = middle
    return low


def sync(
    request: SyncProfileInput, trait: str, identify: IdentifySender, now: datetime | None = None
) -> SyncProfileResult:
    """Send the identify, items dropped from the end if it would exceed 32 KB; the SyncProfile result."""
    if not (request.user_id or request.anonymous_id):
        raise InvalidSegmentEvent("SyncProfile needs a userId or an anonymousId; the payload has neither")
    now = now or datetime.now(UTC)
    message_id = identify_message_id(request.message_id)
    anonymous_id = None if request.user_id else request.anonymous_id
    item_ids = list(request.item_ids)

    def size_with(count: int) -> int:
        return message_size(
            user_id=request.user_id,
            anonymous_id=anonymous_id,
            traits=build_traits(trait, item_ids[:count], request.recommendation_id, now),
            message_id=message_id,
            timestamp=now,
        )

    count = fitting_count(size_with, len(item_ids), MAX_MESSAGE_BYTES)
    identify.identify(
        user_id=request.user_id,
        anonymous_id=anonymous_id,
        traits=build_traits(trait, item_ids[:count], request.recommendation_id, now),
        message_id=message_id,
        timestamp=now,
    )
    return SyncProfileResult(
        message_id=request.message_id,
        identify_message_id=message_id,
        trait=trait,
        count=count,
        trimmed=count < len(item_ids),
    )


@handler(traces=("botocore", "requests"))
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    request = SyncProfileInput.model_validate(event)
    outcome = idempotency.once(  # the record holds the result, so that a repeat answers the same
        {"messageId": request.message_id}, lambda: sync(request, settings.trait_name, segment).to_dict()
    )
    result = SyncProfileResult.model_validate(outcome.result)
    if outcome.replayed:
        metrics.add_metric(name="IdentifyReplayed", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="ProfilesSynced", unit=MetricUnit.Count, value=1)
        if result.trimmed:
            metrics.add_metric(name="TraitsTrimmed", unit=MetricUnit.Count, value=1)
    logger.info(
        "synced profile",
        extra={"count": result.count, "trimmed": result.trimmed, "replayed": outcome.replayed},
    )
    return result.to_dict()
