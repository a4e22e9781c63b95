"""The comparison: one Lambda doing what the original Segment workshop function did, synchronously.

Segment invokes it with a message; it sends the message's interactions to Personalize (PutEvents), asks for
recommendations for a known user (GetRecommendations, with the numResults Recommend asks for) and writes the
first ``RECOMMENDATION_COUNT`` of them to the profile with one ``identify``, then answers. No trait
filtering, no idempotency, no retries beyond the SDK's: what the workflow adds is exactly what this leaves
out. It runs on a local stack like the workflow's (the engine's invoke server serves it as
``segment-personalize-baseline``) and uses the same shared adapters and settings.

It is a benchmark comparison, not a product function: it is not in the SAM template.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from segment_personalize.adapters.clients import PERSONALIZE_CALL, client, secret_or_value
from segment_personalize.adapters.personalize import (
    PersonalizeEvents,
    PersonalizeRecommendations,
    quote_filter_values,
)
from segment_personalize.adapters.segment_identify import SegmentIdentify, build_traits
from segment_personalize.config import (
    RecommendSettings,
    SyncProfileSettings,
    TrackSettings,
    ValidateSettings,
    load,
)
from segment_personalize.contract import Interaction as PutEventsInteraction
from segment_personalize.interactions import validate_payload

validate_settings = load(ValidateSettings)
track_settings = load(TrackSettings)
recommend_settings = load(RecommendSettings)
sync_settings = load(SyncProfileSettings)
filter_values = quote_filter_values(recommend_settings.filter_values)
events = PersonalizeEvents(client("personalize-events", PERSONALIZE_CALL))
runtime = PersonalizeRecommendations(client("personalize-runtime", PERSONALIZE_CALL))
segment = SegmentIdentify.create(
    write_key=secret_or_value(
        sync_settings.write_key, sync_settings.write_key_secret_arn, "SEGMENT_WRITE_KEY"
    ),
    host=sync_settings.host,
    timeout=sync_settings.timeout,
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """PutEvents, GetRecommendations, identify; the counts of what was done."""
    message = validate_payload({"messageId": event.get("messageId"), "event": event}, validate_settings)
    if message.status != "accepted":
        return {"messageId": message.message_id, "tracked": 0, "recommended": 0}
    tracked = [PutEventsInteraction.model_validate(i.to_dict()).to_put_event() for i in message.interactions]
    events.put_events(
        tracking_id=track_settings.tracking_id,
        session_id=message.session_id,
        user_id=message.user_id,
        events=tracked,
    )
    if not (message.recommend and message.user_id):
        return {"messageId": message.message_id, "tracked": len(tracked), "recommended": 0}
    answer = runtime.get_recommendations(
        user_id=message.user_id,
        num_results=recommend_settings.effective_num_results,  # what Recommend asks for
        campaign_arn=recommend_settings.campaign_arn,
        recommender_arn=recommend_settings.recommender_arn,
        filter_arn=recommend_settings.filter_arn,
        filter_values=filter_values,
        metadata_columns=recommend_settings.metadata_columns,
    )
    # no trait filter: the first RECOMMENDATION_COUNT, the count SyncProfile writes after FilterTraits
    item_ids = [item.item_id for item in answer.items][: recommend_settings.recommendation_count]
    now = datetime.now(UTC)
    segment.identify(
        user_id=message.user_id,
        anonymous_id=None,
        traits=build_traits(sync_settings.trait_name, item_ids, answer.recommendation_id, now),
        message_id=f"{message.message_id}-identify",
        timestamp=now,
    )
    return {"messageId": message.message_id, "tracked": len(tracked), "recommended": len(item_ids)}
