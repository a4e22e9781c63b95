"""Recommend: GetRecommendations for the visitor from the configured campaign or recommender."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from segment_personalize.adapters.clients import PERSONALIZE_CALL, client
from segment_personalize.adapters.interfaces import RecommendationSource
from segment_personalize.adapters.personalize import PersonalizeRecommendations, quote_filter_values
from segment_personalize.config import RecommendSettings, load
from segment_personalize.contract import RecommendInput, RecommendResult
from segment_personalize.errors import InvalidSegmentEvent
from segment_personalize.observability import MetricUnit, handler, logger, metrics

settings = load(RecommendSettings)
filter_values = quote_filter_values(settings.filter_values)
personalize: RecommendationSource = PersonalizeRecommendations(
    client("personalize-runtime", PERSONALIZE_CALL.with_read(settings.timeout))
)


def recommend(
    request: RecommendInput,
    settings: RecommendSettings,
    runtime: RecommendationSource,
    filter_values: dict[str, str],
) -> RecommendResult:
    """Recommendations for the userId, else for the anonymous session: the contract's Recommend result."""
    visitor = request.user_id or request.session_id
    if not visitor:
        raise InvalidSegmentEvent("Recommend needs a userId or a sessionId; the payload has neither")
    answer = runtime.get_recommendations(
        user_id=visitor,
        num_results=settings.effective_num_results,
        campaign_arn=settings.campaign_arn,
        recommender_arn=settings.recommender_arn,
        filter_arn=settings.filter_arn,
        filter_values=filter_values,
        metadata_columns=settings.metadata_columns,
    )
    return RecommendResult(
        message_id=request.message_id, recommendation_id=answer.recommendation_id, items=answer.items
    )


@handler(traces=("botocore",))
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = RecommendInput.model_validate(event)
    result = recommend(request, settings, personalize, filter_values)
    metrics.add_metric(name="ItemsRecommended", unit=MetricUnit.Count, value=len(result.items))
    logger.info("recommended items", extra={"items": len(result.items)})
    return result.to_dict()
