"""From a Segment message to the ``Validate`` result of docs/contract.md: the Personalize interactions.

A track message whose event is in ``INTERACTION_EVENTS`` and that carries an item id at one of
``ITEM_ID_PATHS`` (first match wins) becomes one interaction, or one per product for a ``products[]`` path.
Every other valid message is *ignored* with a reason. PutEvents' field limits are enforced here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from segment_personalize.config import ValidateSettings
from segment_personalize.contract import Interaction, ValidateResult
from segment_personalize.errors import InvalidSegmentEvent
from segment_personalize.limits import MAX_ID_LENGTH, MAX_IMPRESSION_IDS, MAX_RECOMMENDATION_ID_LENGTH
from segment_personalize.segment_events import (
    SegmentMessage,
    TrackMessage,
    cap,
    json_type,
    never_an_interaction,
    parse_message,
)


@dataclass(frozen=True)
class _Item:
    """An item id found in a message, with where it was found and the object that holds its price."""

    item_id: str
    index: int | None
    holder: Mapping[str, Any]


def validate_payload(payload: object, settings: ValidateSettings) -> ValidateResult:
    """The Validate result for the workflow input ``{"messageId", "event"}``; raises InvalidSegmentEvent."""
    if not isinstance(payload, Mapping):
        raise InvalidSegmentEvent(f"input: expected {{messageId, event}}, got {json_type(payload)}")
    if "event" not in payload:
        raise InvalidSegmentEvent("input.event: missing (the Segment message)")
    event = payload["event"]
    if not isinstance(event, Mapping):
        raise InvalidSegmentEvent(f"input.event: must be the Segment message object, got {json_type(event)}")
    return validate_message(parse_message(event), settings)


def validate_message(message: SegmentMessage, settings: ValidateSettings) -> ValidateResult:
    """Accept ``message`` with its interactions, or ignore it with a reason; raises InvalidSegmentEvent."""
    reason = never_an_interaction(message, settings.interaction_events)
    if reason is not None:
        return _ignored(message, settings, reason)
    assert isinstance(message, TrackMessage)  # never_an_interaction says so
    items = find_items(message.properties, settings.item_id_paths)
    if not items:
        return _ignored(message, settings, cap(f"no item id at {', '.join(settings.item_id_paths)}"))

    suffix = max((len(f"-{item.index}") for item in items if item.index is not None), default=0)
    _check_length("messageId", message.message_id, MAX_ID_LENGTH - suffix)
    _check_length("userId", message.user_id, MAX_ID_LENGTH)
    _check_length("anonymousId", message.anonymous_id, MAX_ID_LENGTH)
    _check_length("event", message.event, MAX_ID_LENGTH)
    when = message.event_time
    if when is None:
        raise InvalidSegmentEvent("timestamp: missing (and no sentAt, originalTimestamp or receivedAt)")
    sent_at = when.timestamp()
    recommendation_id = _recommendation_id(message.properties)
    impression = _impression(message.properties)
    interactions = [
        Interaction(
            event_id=message.message_id if item.index is None else f"{message.message_id}-{item.index}",
            event_type=message.event,
            item_id=item.item_id,
            sent_at=sent_at,
            event_value=_event_value(item),
            recommendation_id=recommendation_id,
            impression=impression,
        )
        for item in items
    ]
    return _result(message, settings, "accepted", None, interactions)


def find_items(properties: Mapping[str, Any], paths: Sequence[str]) -> list[_Item]:
    """The item ids at the first of ``paths`` that has any. ``a.products[].x`` paths give one item per
    product: each product's id is at the first ``products[]`` path (in configured order) that it has."""
    for path in paths:
        head, brackets, _ = path.partition("[]")
        if brackets:
            siblings = [p.partition("[]")[2].lstrip(".") for p in paths if p.partition("[]")[0] == head]
            items = _list_items(properties, head, siblings)
        else:
            found = _item_id(_resolve(properties, path), path)
            items = [_Item(found, None, properties)] if found is not None else []
        if items:
            return items
    return []


def _list_items(properties: Mapping[str, Any], head: str, subpaths: list[str]) -> list[_Item]:
    products = _resolve(properties, head)
    if products is None:
        return []
    if not isinstance(products, list):
        raise InvalidSegmentEvent(f"{head}: must be a list of objects, got {json_type(products)}")
    items = []
    for index, product in enumerate(products):
        if not isinstance(product, Mapping):
            raise InvalidSegmentEvent(f"{head}[{index}]: must be an object, got {json_type(product)}")
        for subpath in subpaths:
            found = _item_id(_resolve(product, subpath), f"{head}[{index}].{subpath}")
            if found is not None:
                items.append(_Item(found, index, product))
                break
    return items


def _resolve(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``properties.`` prefix optional), or None."""
    value: Any = data
    parts = path.split(".")
    for part in parts[1:] if parts[0] == "properties" else parts:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _item_id(value: Any, where: str) -> str | None:
    """An item id from a string or integer; None when the value is absent, empty or of another type."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    _check_length(where, value, MAX_ID_LENGTH)
    return value


def _check_length(field: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise InvalidSegmentEvent(
            f"{field}: {len(value)} characters, longer than the {limit} that Amazon Personalize accepts"
        )


def _number(value: Any) -> float | None:
    """A finite number from a JSON number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value) if len(value) <= 32 else None
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _event_value(item: _Item) -> float | None:
    """A product's price × quantity (else price); a single item's revenue (else price)."""
    price = _number(item.holder.get("price"))
    if item.index is None:
        revenue = _number(item.holder.get("revenue"))
        return revenue if revenue is not None else price
    quantity = _number(item.holder.get("quantity"))
    if price is not None and quantity is not None:
        return price * quantity
    return price


def _recommendation_id(properties: Mapping[str, Any]) -> str | None:
    """``recommendation_id`` (or ``recommendationId``); dropped when over PutEvents' 40 characters."""
    for key in ("recommendation_id", "recommendationId"):
        value = properties.get(key)
        if isinstance(value, str) and value:
            return value if len(value) <= MAX_RECOMMENDATION_ID_LENGTH else None
    return None


def _impression(properties: Mapping[str, Any]) -> list[str] | None:
    """The first 25 item ids of ``properties.impression``; None when absent or not a list."""
    value = properties.get("impression")
    if not isinstance(value, list):
        return None
    ids = []
    for entry in value:
        item_id = str(entry) if isinstance(entry, int) and not isinstance(entry, bool) else entry
        if isinstance(item_id, str) and 0 < len(item_id) <= MAX_ID_LENGTH:
            ids.append(item_id)
        if len(ids) == MAX_IMPRESSION_IDS:
            break
    return ids or None


def _ignored(message: SegmentMessage, settings: ValidateSettings, reason: str) -> ValidateResult:
    return _result(message, settings, "ignored", reason, [])


def _result(
    message: SegmentMessage,
    settings: ValidateSettings,
    status: Literal["accepted", "ignored"],
    reason: str | None,
    interactions: list[Interaction],
) -> ValidateResult:
    session_id = message.anonymous_id or message.user_id
    if session_id is None:  # the model requires one of them; kept for the type checker
        raise InvalidSegmentEvent(f"{message.type} message needs userId or anonymousId")
    return ValidateResult(
        message_id=message.message_id,
        status=status,
        reason=reason,
        type=message.type,
        event=message.event if isinstance(message, TrackMessage) else None,
        user_id=message.user_id,
        anonymous_id=message.anonymous_id,
        session_id=session_id,
        recommend=bool(message.user_id) or settings.recommend_for_anonymous,
        interactions=interactions,
    )
