"""Configuration from environment variables, validated once at cold start.

Each function reads one settings model at import (``settings = load(TrackSettings)``). A missing or
malformed variable raises :class:`ConfigurationError` naming the variable, so a bad deployment fails on
its first invoke with a message a person can act on. The README's configuration table is generated from the
models below by ``functions/configuration.py``; a test keeps them in step.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from segment_personalize.errors import ConfigurationError

DEFAULT_INTERACTION_EVENTS = "Product Viewed,Product Clicked,Product Added,Order Completed"
DEFAULT_ITEM_ID_PATHS = (
    "properties.sku,properties.product_id,properties.products[].product_id,properties.products[].sku"
)
#: GetRecommendations returns at most 500 items, and at most 50 when it includes metadata.
MAX_RESULTS_WITH_METADATA = 50
DEFAULT_FILTER_RULES = '[{"exclude": "purchased_products"}]'


# A table name (3-255 of A-Z a-z 0-9 _ . -) or a table ARN, both of which DynamoDB accepts as TableName.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}|arn:[^:]+:dynamodb:[^:]*:[0-9]*:table/[A-Za-z0-9_.-]{3,255}")


def _idempotency_table(value: str | None) -> str | None:
    if value is not None and not _TABLE_NAME.fullmatch(value):
        raise ValueError("must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -) or a table ARN")
    return value


#: Read by track and sync_profile: one setting, one definition.
IdempotencyTable = Annotated[
    str | None,
    Field(
        alias="IDEMPOTENCY_TABLE",
        description=(
            "DynamoDB table (key `id`, TTL attribute `expiration`) of the idempotency records that keep a "
            "retried or redelivered step from sending the same events or identify twice; unset turns "
            "idempotency off."
        ),
    ),
    AfterValidator(_idempotency_table),
]


#: Read by recommend (to ask for more) and filter_traits (to cut to it): one setting, one definition.
RecommendationCount = Annotated[
    int,
    Field(
        alias="RECOMMENDATION_COUNT",
        ge=1,
        le=100,
        description="How many items the user finally gets in the trait, after filtering.",
    ),
]

#: The longest read timeout a call may be given: each function's calls must fit its Lambda timeout at worst
#: (``adapters.clients.UNIT_OF_WORK``), so that a slow answer fails as a named, retried error.
MAX_READ_TIMEOUT = 3.0

#: Read timeout of the Personalize clients of track and recommend.
PersonalizeTimeout = Annotated[
    float,
    Field(
        alias="PERSONALIZE_TIMEOUT",
        gt=0,
        le=MAX_READ_TIMEOUT,
        description="Seconds to wait for an answer of Personalize before the step fails and is retried.",
    ),
]


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _not_empty(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one entry")
    return value


#: Read by entry (to skip what can never be an interaction) and validate: one setting, one parsing.
InteractionEvents = Annotated[
    list[str],
    BeforeValidator(_csv),
    AfterValidator(_not_empty),
    Field(
        alias="INTERACTION_EVENTS",
        default_factory=lambda: _csv(DEFAULT_INTERACTION_EVENTS),
        description=(
            "Comma-separated track event names that are interactions; other events are ignored (by entry, "
            "which then starts no execution for them, unless START_EVERY_MESSAGE)."
        ),
    ),
]


class Settings(BaseModel):
    """Base: fields are read from environment variables named by their alias.

    Each model's validator is built when it is first used (``defer_build``): a function validates only its
    own settings at cold start, and does not pay for building the other five functions' models.
    """

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore", defer_build=True)


class EntrySettings(Settings):
    state_machine_arn: str = Field(
        alias="STATE_MACHINE_ARN",
        description="ARN of the workflow the entry function starts, one execution per Segment message.",
    )
    dead_letter_queue_url: str = Field(
        alias="DEAD_LETTER_QUEUE_URL",
        min_length=1,
        description=(
            "SQS queue where the entry function parks input that can never become an execution (not a JSON "
            "object, no messageId, too large), with its reason, instead of failing the invoke."
        ),
    )
    interaction_events: InteractionEvents
    start_every_message: bool = Field(
        alias="START_EVERY_MESSAGE",
        default=False,
        description=(
            "Start an execution for every message, also those that can never be interactions (identify, "
            "page, screen, group, alias, track events not in INTERACTION_EVENTS), so that each shows in the "
            "console as Ignored; by default entry answers them `skipped` and starts nothing."
        ),
    )

    @field_validator("state_machine_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not value.startswith("arn:") or ":states:" not in value or ":stateMachine:" not in value:
            raise ValueError(
                "must be a Step Functions state machine ARN (arn:aws:states:...:stateMachine:...)"
            )
        return value


class ValidateSettings(Settings):
    interaction_events: InteractionEvents
    item_id_paths: list[str] = Field(
        alias="ITEM_ID_PATHS",
        default_factory=lambda: _csv(DEFAULT_ITEM_ID_PATHS),
        description=(
            "Comma-separated paths where item ids live, first match wins; `products[]` paths give one "
            "interaction per product."
        ),
    )
    recommend_for_anonymous: bool = Field(
        alias="RECOMMEND_FOR_ANONYMOUS",
        default=False,
        description=(
            "Also recommend and sync for anonymous visitors; by default their workflow ends after Track."
        ),
    )

    _split = field_validator("item_id_paths", mode="before")(_csv)
    _item_id_paths_not_empty = field_validator("item_id_paths")(_not_empty)

    @field_validator("item_id_paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("properties.") or path.count("[]") > 1:
                raise ValueError(f"{path!r} is not a path like properties.sku or properties.products[].sku")
        return value


class TrackSettings(Settings):
    tracking_id: str = Field(
        alias="PERSONALIZE_TRACKING_ID",
        min_length=1,
        max_length=256,
        description="Tracking id of the Personalize event tracker that receives the interactions.",
    )
    timeout: PersonalizeTimeout = 2.0
    idempotency_table: IdempotencyTable = None


class RecommendSettings(Settings):
    campaign_arn: str | None = Field(
        alias="PERSONALIZE_CAMPAIGN_ARN",
        default=None,
        description="Campaign to ask for recommendations (set this or PERSONALIZE_RECOMMENDER_ARN).",
    )
    recommender_arn: str | None = Field(
        alias="PERSONALIZE_RECOMMENDER_ARN",
        default=None,
        description="Recommender to ask for recommendations (set this or PERSONALIZE_CAMPAIGN_ARN).",
    )
    recommendation_count: RecommendationCount = 10
    timeout: PersonalizeTimeout = 2.0
    num_results: int | None = Field(
        alias="PERSONALIZE_NUM_RESULTS",
        default=None,
        ge=2,
        le=500,
        description=(
            "numResults asked of Personalize; must exceed RECOMMENDATION_COUNT so filtering leaves enough "
            "(default: three times the count, at least 25, at most 500, or 50 with metadata columns)."
        ),
    )
    filter_arn: str | None = Field(
        alias="PERSONALIZE_FILTER_ARN",
        default=None,
        description="Optional Personalize filter applied to GetRecommendations.",
    )
    filter_values: dict[str, list[str]] = Field(
        alias="PERSONALIZE_FILTER_VALUES",
        default_factory=dict,
        description=(
            'JSON object of filter parameters to values, e.g. {"CATEGORY": ["shoes", "bags"]}; '
            "sent as Personalize's quoted lists. Needs PERSONALIZE_FILTER_ARN."
        ),
    )
    metadata_columns: list[str] = Field(
        alias="PERSONALIZE_METADATA_COLUMNS",
        default_factory=list,
        description="Comma-separated item columns returned with each recommendation (metadataColumns).",
    )

    _split = field_validator("metadata_columns", mode="before")(_csv)

    @field_validator("filter_values", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if isinstance(value, Mapping):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("filter_values")
    @classmethod
    def _filter_values_limits(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if len(value) > 25:
            raise ValueError("Personalize accepts at most 25 filter parameters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if bool(self.campaign_arn) == bool(self.recommender_arn):
            raise ValueError(
                "set exactly one of PERSONALIZE_CAMPAIGN_ARN and PERSONALIZE_RECOMMENDER_ARN "
                f"(campaign={'set' if self.campaign_arn else 'unset'}, "
                f"recommender={'set' if self.recommender_arn else 'unset'})"
            )
        if self.num_results is not None and self.num_results <= self.recommendation_count:
            raise ValueError(
                f"PERSONALIZE_NUM_RESULTS ({self.num_results}) must exceed RECOMMENDATION_COUNT "
                f"({self.recommendation_count}) so that filtering leaves enough items"
            )
        if self.filter_values and not self.filter_arn:
            raise ValueError("PERSONALIZE_FILTER_VALUES needs PERSONALIZE_FILTER_ARN")
        if (
            self.metadata_columns
            and self.num_results is not None
            and self.num_results > MAX_RESULTS_WITH_METADATA
        ):
            raise ValueError(
                f"PERSONALIZE_NUM_RESULTS ({self.num_results}) must be at most {MAX_RESULTS_WITH_METADATA} "
                "when PERSONALIZE_METADATA_COLUMNS is set (a limit of GetRecommendations)"
            )
        return self

    @property
    def effective_num_results(self) -> int:
        if self.num_results is not None:
            return self.num_results
        ceiling = MAX_RESULTS_WITH_METADATA if self.metadata_columns else 500
        return min(ceiling, max(25, 3 * self.recommendation_count))


class FilterRule(BaseModel):
    """One trait rule. ``{"exclude": T}`` drops items listed in trait T; ``{"keep_if": F, "in_trait": T}``
    keeps only items whose metadata field F is among trait T's values (skipped when the user lacks T)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exclude: str | None = None
    keep_if: str | None = None
    in_trait: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.exclude and not (self.keep_if or self.in_trait):
            return self
        if self.keep_if and self.in_trait and not self.exclude:
            return self
        raise ValueError('a rule is {"exclude": TRAIT} or {"keep_if": FIELD, "in_trait": TRAIT}')


class FilterTraitsSettings(Settings):
    space_id: str | None = Field(
        alias="SEGMENT_SPACE_ID",
        default=None,
        description="Segment space (Unify) whose Profile API holds the traits; unset passes items through.",
    )
    profile_token: str | None = Field(
        alias="SEGMENT_PROFILE_TOKEN",
        default=None,
        description=(
            "Profile API access token, for local runs; deployed, use SEGMENT_PROFILE_TOKEN_SECRET_ARN."
        ),
    )
    profile_token_secret_arn: str | None = Field(
        alias="SEGMENT_PROFILE_TOKEN_SECRET_ARN",
        default=None,
        description="Secrets Manager secret holding the Profile API access token.",
    )
    profile_api_url: str = Field(
        alias="SEGMENT_PROFILE_API_URL",
        default="https://profiles.segment.com",
        description="Base address of Segment's Profile API (https://profiles.euw1.segment.com in the EU).",
    )
    profile_api_timeout: float = Field(
        alias="SEGMENT_PROFILE_API_TIMEOUT",
        default=2.0,
        gt=0,
        le=MAX_READ_TIMEOUT,
        description="Seconds to wait for the Profile API before the step fails and is retried.",
    )
    filter_rules: tuple[FilterRule, ...] = Field(
        alias="FILTER_RULES",
        default_factory=lambda: tuple(FilterRule.model_validate(r) for r in json.loads(DEFAULT_FILTER_RULES)),
        description=(
            'JSON list of trait rules: {"exclude": TRAIT} drops listed items, '
            '{"keep_if": FIELD, "in_trait": TRAIT} keeps items whose metadata FIELD is in TRAIT.'
        ),
    )
    recommendation_count: RecommendationCount = 10

    @field_validator("filter_rules", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _token(self) -> Self:
        if self.space_id and not (self.profile_token or self.profile_token_secret_arn):
            raise ValueError(
                "SEGMENT_SPACE_ID is set but neither SEGMENT_PROFILE_TOKEN nor "
                "SEGMENT_PROFILE_TOKEN_SECRET_ARN is"
            )
        if self.profile_token and self.profile_token_secret_arn:
            raise ValueError("set SEGMENT_PROFILE_TOKEN or SEGMENT_PROFILE_TOKEN_SECRET_ARN, not both")
        return self


class SyncProfileSettings(Settings):
    write_key: str | None = Field(
        alias="SEGMENT_WRITE_KEY",
        default=None,
        description="Write key of the Segment source that receives the identify calls, for local runs.",
    )
    write_key_secret_arn: str | None = Field(
        alias="SEGMENT_WRITE_KEY_SECRET_ARN",
        default=None,
        description="Secrets Manager secret holding the source write key (how the template deploys it).",
    )
    host: str = Field(
        alias="SEGMENT_HOST",
        default="https://api.segment.io",
        description=(
            "Segment tracking API address (https://events.eu1.segmentapis.com in the EU; the local stack's)."
        ),
    )
    timeout: float = Field(
        alias="SEGMENT_TIMEOUT",
        default=2.0,
        gt=0,
        le=MAX_READ_TIMEOUT,
        description="Seconds to wait for the tracking API before the step fails and is retried.",
    )
    trait_name: str = Field(
        alias="RECOMMENDATION_TRAIT",
        default="recommended_products",
        min_length=1,
        description="Profile trait that receives the recommended item ids.",
    )
    idempotency_table: IdempotencyTable = None

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if bool(self.write_key) == bool(self.write_key_secret_arn):
            raise ValueError("set exactly one of SEGMENT_WRITE_KEY and SEGMENT_WRITE_KEY_SECRET_ARN")
        return self


SettingsT = TypeVar("SettingsT", bound=Settings)

ALL_SETTINGS: dict[str, type[Settings]] = {
    "entry": EntrySettings,
    "validate": ValidateSettings,
    "track": TrackSettings,
    "recommend": RecommendSettings,
    "filter_traits": FilterTraitsSettings,
    "sync_profile": SyncProfileSettings,
}


def load(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Build ``model`` from the environment; raise ConfigurationError naming each bad variable."""
    env = os.environ if environ is None else environ
    aliases = {field.alias or name for name, field in model.model_fields.items()}
    raw = {alias: env[alias] for alias in aliases if env.get(alias, "") != ""}
    try:
        return model.model_validate(raw)
    except (ValidationError, json.JSONDecodeError) as error:
        raise ConfigurationError(_describe(model, error)) from error


def _describe(model: type[Settings], error: ValidationError | json.JSONDecodeError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{model.__name__}: a JSON setting is not valid JSON: {error}"
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "settings"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required but not set"
        problems.append(f"{where} {message}")
    return f"invalid configuration for {model.__name__}: " + "; ".join(problems)
