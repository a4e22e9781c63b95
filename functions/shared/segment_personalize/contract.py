"""The workflow contract of docs/contract.md as pydantic models: what each step receives and returns.

The state machine passes each step a small JSON object (the ASL ``Parameters``) and stores the step's result
under its own key of the execution state. Each step parses its input into its ``...Input`` model and returns
its ``...Result`` model's :meth:`~ContractModel.to_dict`: the contract's camelCase keys, every key present,
in the order the fields are declared here. Pydantic only: Validate imports this without any adapter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ContractModel(BaseModel):
    """Base: camelCase keys (snake_case names accepted too), unknown keys ignored, immutable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, with the contract's camelCase keys, every key present."""
        return self.model_dump(mode="json", by_alias=True)


# --- Validate -------------------------------------------------------------------------------------------
class Interaction(ContractModel):
    """One interaction of the Validate result, as Track receives it: one PutEvents event.

    Validate always sets ``item_id``; Track also takes an interaction without one (PutEvents does).
    """

    event_id: str
    event_type: str
    item_id: str | None = None
    sent_at: float
    event_value: float | None = None
    recommendation_id: str | None = None
    impression: list[str] | None = None

    def to_put_event(self) -> dict[str, Any]:
        """The PutEvents ``eventList`` item: only the fields that are present; sentAt as a UTC datetime."""
        event: dict[str, Any] = {
            "eventId": self.event_id,
            "eventType": self.event_type,
            "sentAt": datetime.fromtimestamp(self.sent_at, tz=UTC),
        }
        if self.item_id is not None:
            event["itemId"] = self.item_id
        if self.event_value is not None:
            event["eventValue"] = float(self.event_value)
        if self.recommendation_id is not None:
            event["recommendationId"] = self.recommendation_id
        if self.impression is not None:
            event["impression"] = list(self.impression)
        return event


class ValidateResult(ContractModel):
    """What the ``Validate`` state stores at ``$.validated``."""

    message_id: str
    status: Literal["accepted", "ignored"]
    reason: str | None
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    session_id: str
    recommend: bool
    interactions: list[Interaction] = Field(default_factory=list)


# --- Track ----------------------------------------------------------------------------------------------
class TrackInput(ContractModel):
    """The Track state's input: from ``$.validated``."""

    message_id: str
    user_id: str | None = None
    session_id: str
    interactions: list[Interaction]


class TrackResult(ContractModel):
    """What the ``Track`` state stores at ``$.tracked``: ``calls`` counts the PutEvents batches, sent now
    or by an earlier attempt (answered from their idempotency records)."""

    message_id: str
    tracked: int
    calls: int
    event_ids: list[str]


# --- Recommend ------------------------------------------------------------------------------------------
class RecommendInput(ContractModel):
    """The Recommend state's input: from ``$.validated``."""

    message_id: str
    user_id: str | None = None
    session_id: str | None = None


class RecommendedItem(ContractModel):
    """One item of a GetRecommendations answer, as Recommend returns it and FilterTraits receives it."""

    item_id: str
    score: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecommendResult(ContractModel):
    """What the ``Recommend`` state stores at ``$.recommendations``."""

    message_id: str
    recommendation_id: str | None
    items: list[RecommendedItem]


# --- FilterTraits ---------------------------------------------------------------------------------------
#: What FilterTraits found of the visitor's profile: traits, no such profile, or no Profile API configured.
ProfileLookup = Literal["found", "not_found", "not_configured"]


class FilterTraitsInput(ContractModel):
    """The FilterTraits state's input: from ``$.validated``, ``items`` from ``$.recommendations.items``."""

    message_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    items: list[RecommendedItem] = Field(default_factory=list)


class FilterTraitsResult(ContractModel):
    """What the ``FilterTraits`` state stores at ``$.filtered``: ``removed`` counts the items each rule
    removed, by the rule's description."""

    message_id: str
    item_ids: list[str]
    profile: ProfileLookup
    removed: dict[str, int]


# --- SyncProfile ----------------------------------------------------------------------------------------
class SyncProfileInput(ContractModel):
    """The SyncProfile state's input: from ``$.validated``, ``itemIds`` from ``$.filtered.itemIds``,
    ``recommendationId`` from ``$.recommendations.recommendationId``."""

    message_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    item_ids: list[str] = Field(default_factory=list)
    recommendation_id: str | None = None


class SyncProfileResult(ContractModel):
    """What the ``SyncProfile`` state stores at ``$.synced``: ``count`` item ids sent, ``trimmed`` when
    items were dropped from the end to keep the identify within Segment's 32 KB."""

    message_id: str
    identify_message_id: str
    trait: str
    count: int
    trimmed: bool
