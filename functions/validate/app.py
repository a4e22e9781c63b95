"""Validate: the Segment message in, its Personalize interactions (or the reason it is ignored) out.

Input ``{"messageId", "event"}``; output the ``Validate`` result of docs/contract.md. A message that cannot
be processed raises ``InvalidSegmentEvent`` (the workflow's *Rejected* end).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from segment_personalize.config import ValidateSettings, load
from segment_personalize.errors import InvalidSegmentEvent
from segment_personalize.interactions import validate_payload
from segment_personalize.observability import MetricUnit, handler, logger, metrics

settings = load(ValidateSettings)


@handler(traces=())
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        result = validate_payload(event, settings)
    except InvalidSegmentEvent as error:
        metrics.add_metric(name="MessagesRejected", unit=MetricUnit.Count, value=1)
        logger.info("Segment message rejected", extra={"reason": str(error)})
        raise
    if isinstance(event, dict) and event.get("messageId") != result.message_id:
        logger.warning("messageId of the input differs from the message's; using the message's")
        logger.set_correlation_id(result.message_id)
    metrics.add_metric(name=f"Messages{result.status.capitalize()}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Interactions", unit=MetricUnit.Count, value=len(result.interactions))
    logger.info(
        "Segment message validated",
        extra={
            "status": result.status,
            "reason": result.reason,
            "type": result.type,
            "interactions": len(result.interactions),
        },
    )
    logger.debug("identities", extra={"userId": result.user_id, "anonymousId": result.anonymous_id})
    return result.to_dict()
