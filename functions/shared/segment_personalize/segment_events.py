"""Segment messages as typed pydantic v2 models (as Powertools' parser uses): track, page, screen, identify,
group and alias, after the Segment Spec.

:func:`parse_message` is the one way in. It accepts any value and either returns a
:data:`SegmentMessage` or raises :class:`InvalidSegmentEvent` whose message names the field and what was
wrong, short enough to show in the Step Functions console (never an echo of a large value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from segment_personalize.errors import InvalidSegmentEvent

MESSAGE_TYPES = ("track", "page", "screen", "identify", "group", "alias")

#: Longest reason put into an InvalidSegmentEvent; values inside it are cut far shorter.
MAX_REASON_LENGTH = 300
_MAX_SHOWN = 40
_MAX_TIMESTAMP_LENGTH = 64
# Extended ISO-8601 / RFC 3339 date and time: what Segment's libraries and API send.
_ISO_DATETIME_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def json_type(value: object) -> str:
    """The JSON name of ``value``'s type, for reasons a person reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def show(value: object) -> str:
    """A short, quoted rendering of ``value`` for an error reason (never the whole of a large value)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= _MAX_SHOWN else repr(value[:_MAX_SHOWN]) + "..."
    if value is None or isinstance(value, bool | int | float):
        shown = repr(value)
        return shown if len(shown) <= _MAX_SHOWN else shown[:_MAX_SHOWN] + "..."
    return f"a JSON {json_type(value)}"


def cap(reason: str) -> str:
    """``reason`` cut to :data:`MAX_REASON_LENGTH` characters."""
    return reason if len(reason) <= MAX_REASON_LENGTH else reason[: MAX_REASON_LENGTH - 3] + "..."


def _iso_datetime(value: Any) -> datetime:
    """An aware datetime from an ISO-8601 string with any offset; no offset means UTC (as Segment does)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise PydanticCustomError("iso_datetime_type", "must be an ISO-8601 date-time string")
    if len(value) > _MAX_TIMESTAMP_LENGTH or not _ISO_DATETIME_START.match(value):
        raise PydanticCustomError("iso_datetime", "is not an ISO-8601 date-time")
    text = value[:-1] + "Z" if value.endswith("z") else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError("iso_datetime", "is not an ISO-8601 date-time") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:  # Track sends it as UTC epoch seconds: e.g. 0001-01-01T00:00+01:00 is in year 0 there
        datetime.fromtimestamp(parsed.timestamp(), tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise PydanticCustomError("iso_datetime_range", "is outside years 1 to 9999 in UTC") from None
    return parsed


def _none_to_empty(value: Any) -> Any:
    return {} if value is None else value


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


IsoDateTime = Annotated[datetime, PlainValidator(_iso_datetime)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_none_to_empty)]
SegmentId = Annotated[str | None, BeforeValidator(_empty_to_none)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class _Message(BaseModel):
    """Fields common to every Segment message. Unknown fields are kept (``model_extra``)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    type: str
    message_id: NonEmptyStr = Field(alias="messageId")
    user_id: SegmentId = Field(default=None, alias="userId")
    anonymous_id: SegmentId = Field(default=None, alias="anonymousId")
    timestamp: IsoDateTime | None = None
    sent_at: IsoDateTime | None = Field(default=None, alias="sentAt")
    original_timestamp: IsoDateTime | None = Field(default=None, alias="originalTimestamp")
    received_at: IsoDateTime | None = Field(default=None, alias="receivedAt")
    context: JsonObject = Field(default_factory=dict)
    integrations: JsonObject = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_an_id(self) -> _Message:
        if not self.user_id and not self.anonymous_id:
            raise PydanticCustomError(
                "segment_ids", "{type} message needs userId or anonymousId", {"type": self.type}
            )
        return self

    @property
    def event_time(self) -> datetime | None:
        """When it happened: ``timestamp``, else ``sentAt``, ``originalTimestamp``, ``receivedAt``."""
        for value in (self.timestamp, self.sent_at, self.original_timestamp, self.received_at):
            if value is not None:
                return value
        return None


class TrackMessage(_Message):
    type: Literal["track"]
    event: NonEmptyStr
    properties: JsonObject = Field(default_factory=dict)


class PageMessage(_Message):
    type: Literal["page"]
    name: str | None = None
    properties: JsonObject = Field(default_factory=dict)


class ScreenMessage(_Message):
    type: Literal["screen"]
    name: str | None = None
    properties: JsonObject = Field(default_factory=dict)


class IdentifyMessage(_Message):
    type: Literal["identify"]
    traits: JsonObject = Field(default_factory=dict)


class GroupMessage(_Message):
    type: Literal["group"]
    group_id: NonEmptyStr = Field(alias="groupId")
    traits: JsonObject = Field(default_factory=dict)


class AliasMessage(_Message):
    type: Literal["alias"]
    previous_id: NonEmptyStr = Field(alias="previousId")


SegmentMessage = Annotated[
    TrackMessage | PageMessage | ScreenMessage | IdentifyMessage | GroupMessage | AliasMessage,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[SegmentMessage] = TypeAdapter(SegmentMessage)


def never_an_interaction(message: SegmentMessage, interaction_events: Sequence[str]) -> str | None:
    """Why a valid ``message`` can never be an interaction, whatever its properties: it is not a track, or
    its event is not in ``interaction_events`` (INTERACTION_EVENTS); None when it may be one. Validate
    ignores such a message with this reason; entry does not start an execution for it."""
    if not isinstance(message, TrackMessage):
        return f"{message.type} messages are not interactions"
    if message.event not in interaction_events:
        return f"event {show(message.event)} is not in INTERACTION_EVENTS"
    return None


def parse_message(raw: object) -> SegmentMessage:
    """The typed message for ``raw``; raises InvalidSegmentEvent (and nothing else) naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise InvalidSegmentEvent(f"message: expected a JSON object, got {json_type(raw)}")
    try:
        return _ADAPTER.validate_python(dict(raw))
    except ValidationError as error:
        raise InvalidSegmentEvent(cap(_reason(raw, error))) from error
    except (RecursionError, TypeError, ValueError, OverflowError) as error:
        raise InvalidSegmentEvent(f"message: could not be read ({type(error).__name__})") from error


def _reason(raw: Mapping[Any, Any], error: ValidationError) -> str:
    problems: list[str] = []
    for item in error.errors(include_url=False):
        problem = _problem(raw, item)
        if problem not in problems:
            problems.append(problem)
    return "; ".join(problems)


def _problem(raw: Mapping[Any, Any], item: Any) -> str:
    kind, loc, value = item["type"], tuple(item["loc"]), item.get("input")
    if kind == "union_tag_not_found":
        return "type: missing"
    if kind == "union_tag_invalid":
        return f"type: {show(raw.get('type'))} is not one of {', '.join(MESSAGE_TYPES)}"
    if loc and loc[0] in MESSAGE_TYPES:
        loc = loc[1:]  # the discriminator's tag
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    if kind == "segment_ids":
        return str(item["msg"])
    if kind == "missing":
        message = "missing"
    elif kind == "string_type":
        message = f"must be a string, got {json_type(value)}"
    elif kind == "string_too_short":
        message = "must not be empty"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = f"must be an object, got {json_type(value)}"
    elif kind == "iso_datetime":
        message = f"{show(value)} is not an ISO-8601 date-time"
    elif kind == "iso_datetime_range":
        message = f"{show(value)} is outside years 1 to 9999 in UTC"
    elif kind == "iso_datetime_type":
        message = f"must be an ISO-8601 date-time string, got {json_type(value)}"
    elif kind == "invalid_key":
        message = "keys must be strings"
    else:
        message = str(item["msg"])[:100]
    return f"{field or 'message'}: {message}"
