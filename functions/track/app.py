"""Track: send a message's interactions to Amazon Personalize through the event tracker (PutEvents)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field
from segment_personalize.clients import client
from segment_personalize.config import TrackSettings, load
from segment_personalize.observability import MetricUnit, handler, logger, metrics
from segment_personalize.personalize import Interaction, PersonalizeEvents

settings = load(TrackSettings)
personalize = PersonalizeEvents(client("personalize-events"))


class TrackInput(BaseModel):
    """The Track state's input (docs/contract.md)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    message_id: str = Field(alias="messageId")
    user_id: str | None = Field(alias="userId", default=None)
    session_id: str = Field(alias="sessionId")
    interactions: list[Interaction]


def track(request: TrackInput, tracking_id: str, events: PersonalizeEvents) -> dict[str, Any]:
    """PutEvents for every interaction, at most 10 a call; the Track result of the contract."""
    event_list = [interaction.to_put_event() for interaction in request.interactions]
    calls = events.put_events(
        tracking_id=tracking_id, session_id=request.session_id, user_id=request.user_id, events=event_list
    )
    return {
        "messageId": request.message_id,
        "tracked": len(event_list),
        "calls": calls,
        "eventIds": [interaction.event_id for interaction in request.interactions],
    }


@handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = TrackInput.model_validate(event)
    result = track(request, settings.tracking_id, personalize)
    metrics.add_metric(name="EventsTracked", unit=MetricUnit.Count, value=result["tracked"])
    logger.info("tracked interactions", extra={"tracked": result["tracked"], "calls": result["calls"]})
    return result
