"""A local Amazon Personalize (events + runtime protocols) on loopback, with a real small model."""

from local_stack.personalize.filters import FilterSyntaxError, FilterValuesError, parse_filter_expression
from local_stack.personalize.recommender import InteractionModel, hit_rate_at_k
from local_stack.personalize.responses import PersonalizeService

__all__ = [
    "FilterSyntaxError",
    "FilterValuesError",
    "InteractionModel",
    "PersonalizeService",
    "hit_rate_at_k",
    "parse_filter_expression",
]
