"""The workflow contract of docs/contract.md as pydantic models: what each step receives and returns.

The state machine passes each step a small JSON object and stores its result under the step's own key; the
models here are both sides of those payloads, with the contract's camelCase keys.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


# --- Validate -------------------------------------------------------------------------------------------
class _Result(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, with the contract's camelCase keys, every key present."""
        return self.model_dump(mode="json", by_alias=True)


class Interaction(_Result):
    """One PutEvents event."""

    event_id: str
    event_type: str
    item_id: str
    sent_at: float
    event_value: float | None = None
    recommendation_id: str | None = None
    impression: list[str] | None = None


class ValidateResult(_Result):
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


# --- Recommend ------------------------------------------------------------------------------------------
class RecommendInput(BaseModel):
    """The Recommend state's input (docs/contract.md)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    message_id: str = Field(alias="messageId")
    user_id: str | None = Field(alias="userId", default=None)
    session_id: str | None = Field(alias="sessionId", default=None)


# --- FilterTraits ---------------------------------------------------------------------------------------
class RecommendedItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    item_id: str = Field(alias="itemId")
    metadata: dict[str, Any] = Field(default_factory=dict)


class FilterInput(BaseModel):
    """The FilterTraits state's input (docs/contract.md)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    message_id: str = Field(alias="messageId")
    user_id: str | None = Field(alias="userId", default=None)
    anonymous_id: str | None = Field(alias="anonymousId", default=None)
    items: list[RecommendedItem] = Field(default_factory=list)


# --- SyncProfile ----------------------------------------------------------------------------------------
class SyncInput(BaseModel):
    """The SyncProfile state's input (docs/contract.md)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    message_id: str = Field(alias="messageId")
    user_id: str | None = Field(alias="userId", default=None)
    anonymous_id: str | None = Field(alias="anonymousId", default=None)
    item_ids: list[str] = Field(alias="itemIds", default_factory=list)
    recommendation_id: str | None = Field(alias="recommendationId", default=None)
