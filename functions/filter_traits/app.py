"""FilterTraits: apply the declared trait rules of the visitor's Segment profile to the recommended items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from segment_personalize.adapters.clients import secret_or_value
from segment_personalize.adapters.interfaces import ProfileTraits
from segment_personalize.adapters.profile_api import ProfileApi
from segment_personalize.config import FilterRule, FilterTraitsSettings, load
from segment_personalize.contract import FilterTraitsInput, FilterTraitsResult, ProfileLookup, RecommendedItem
from segment_personalize.errors import InvalidSegmentEvent
from segment_personalize.observability import MetricUnit, handler, logger, metrics

settings = load(FilterTraitsSettings)
profiles: ProfileTraits | None = (
    ProfileApi(
        base_url=settings.profile_api_url,
        space_id=settings.space_id,
        token=secret_or_value(
            settings.profile_token, settings.profile_token_secret_arn, "SEGMENT_PROFILE_TOKEN"
        ),
        timeout=settings.profile_api_timeout,
    )
    if settings.space_id
    else None
)


def describe(rule: FilterRule) -> str:
    """The rule as named in the result's ``removed`` counts."""
    if rule.exclude:
        return f"exclude {rule.exclude}"
    return f"keep {rule.keep_if} in {rule.in_trait}"


def trait_values(value: Any) -> list[str] | None:
    """A trait's values: a list, or a comma-separated string, or one number; None when unusable."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value if part is not None and not isinstance(part, dict | list)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [str(value)]
    return None


def metadata_values(item: RecommendedItem, field: str) -> set[str]:
    """Lower-cased values of metadata ``field`` (key matched case-insensitively; ``|`` separates values)."""
    wanted = field.lower()
    values: set[str] = set()
    for key, value in item.metadata.items():
        if key.lower() != wanted or value is None:
            continue
        parts = value if isinstance(value, list) else str(value).split("|")
        values.update(str(part).strip().lower() for part in parts if str(part).strip())
    return values


def apply_rules(
    items: Sequence[RecommendedItem], traits: dict[str, Any], rules: Sequence[FilterRule]
) -> tuple[list[RecommendedItem], dict[str, int]]:
    """Items left after every rule whose trait the profile has, and how many each rule removed."""
    kept = list(items)
    removed: dict[str, int] = {}
    for rule in rules:
        trait = rule.exclude or rule.in_trait or ""
        values = trait_values(traits.get(trait))
        if values is None:
            logger.debug("rule skipped: the profile lacks a usable trait", extra={"rule": describe(rule)})
            continue
        before = len(kept)
        if rule.exclude:
            excluded = set(values)
            kept = [item for item in kept if item.item_id not in excluded]
        else:
            allowed = {value.lower() for value in values}
            kept = [item for item in kept if metadata_values(item, rule.keep_if or "") & allowed]
        removed[describe(rule)] = removed.get(describe(rule), 0) + before - len(kept)
    return kept, removed


def filter_items(
    request: FilterTraitsInput, rules: Sequence[FilterRule], count: int, profile_api: ProfileTraits | None
) -> FilterTraitsResult:
    """The FilterTraits result of the contract: the item ids left, cut to ``count``."""
    removed: dict[str, int] = {}
    profile: ProfileLookup
    if profile_api is None:
        kept, profile = list(request.items), "not_configured"
    else:
        if not (request.user_id or request.anonymous_id):
            raise InvalidSegmentEvent(
                "FilterTraits needs a userId or an anonymousId; the payload has neither"
            )
        wanted = [rule.exclude or rule.in_trait or "" for rule in rules]
        traits = profile_api.traits(request.user_id, request.anonymous_id, include=wanted)
        if traits is None:
            kept, profile = list(request.items), "not_found"
        else:
            kept, removed = apply_rules(request.items, traits, rules)
            profile = "found"
    return FilterTraitsResult(
        message_id=request.message_id,
        item_ids=[item.item_id for item in kept[:count]],
        profile=profile,
        removed=removed,
    )


@handler(traces=("botocore", "requests"))
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FilterTraitsInput.model_validate(event)
    result = filter_items(request, settings.filter_rules, settings.recommendation_count, profiles)
    metrics.add_metric(name="ItemsRemovedByTraits", unit=MetricUnit.Count, value=sum(result.removed.values()))
    logger.info(
        "filtered items",
        extra={"profile": result.profile, "kept": len(result.item_ids), "removed": result.removed},
    )
    return result.to_dict()
