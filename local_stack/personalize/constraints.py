"""Request constraints of the service models, checked with the error names and message style of the real
service, and the typed requests they give."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from local_stack.personalize.exceptions import InvalidInputException
from local_stack.personalize.store import dumps

#: ``Arn`` shape of both service models.
ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*:.+")
_ATTRIBUTION = re.compile(r"^[\x20-\x7E]*[\x21-\x7E]+[\x20-\x7E]*$")
FILTER_KEY = re.compile(r"[A-Za-z0-9_]+")
CONTEXT_KEY = re.compile(r"[A-Za-z\d_]+")
MAX_NUM_RESULTS = 500
MAX_NUM_RESULTS_WITH_METADATA = 50
_DATASET_TYPES = {"ITEMS", "USERS", "INTERACTIONS", "ACTIONS", "ACTION_INTERACTIONS"}


class Checks:
    """Collects constraint violations as AWS words them, then raises one InvalidInputException."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, constraint: str, *, null: bool = False) -> None:
        """Record one violation."""
        value = "Value null" if null else "Value"
        self.errors.append(f"{value} at '{path}' failed to satisfy constraint: {constraint}")

    def raise_if_any(self) -> None:
        """InvalidInputException listing every violation, if there is one."""
        if self.errors:
            count = len(self.errors)
            noun = "error" if count == 1 else "errors"
            raise InvalidInputException(f"{count} validation {noun} detected: " + "; ".join(self.errors))

    def _present(self, body: dict[str, Any], key: str, path: str, required: bool) -> bool:
        if body.get(key) is None:
            if required:
                self.fail(path, "Member must not be null", null=True)
            return False
        return True

    def string(
        self,
        body: dict[str, Any],
        key: str,
        path: str | None = None,
        *,
        required: bool = False,
        min_len: int = 1,
        max_len: int = 256,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        """A string member with length (and pattern) constraints; None when absent or invalid."""
        path = path or key
        if not self._present(body, key, path, required):
            return None
        value = body[key]
        if not isinstance(value, str):
            self.fail(path, "Member must be a string")
            return None
        ok = self.length(path, len(value), min_len, max_len)
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(path, f"Member must satisfy regular expression pattern: {pattern.pattern}")
            ok = False
        return value if ok else None

    def length(self, path: str, size: int, min_len: int | None, max_len: int | None) -> bool:
        """Length bounds of a string, list or map."""
        if min_len is not None and size < min_len:
            self.fail(path, f"Member must have length greater than or equal to {min_len}")
            return False
        if max_len is not None and size > max_len:
            self.fail(path, f"Member must have length less than or equal to {max_len}")
            return False
        return True

    def number(
        self, body: dict[str, Any], key: str, path: str | None = None, *, required: bool = False
    ) -> float | None:
        """A JSON number member."""
        path = path or key
        if not self._present(body, key, path, required):
            return None
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, "Member must be a number")
            return None
        return float(value)

    def integer(
        self, body: dict[str, Any], key: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An integer member within bounds."""
        if not self._present(body, key, key, False):
            return None
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "Member must be an integer")
            return None
        if minimum is not None and value < minimum:
            self.fail(key, f"Member must have value greater than or equal to {minimum}")
            return None
        if maximum is not None and value > maximum:
            self.fail(key, f"Member must have value less than or equal to {maximum}")
            return None
        return value

    def array(
        self,
        body: dict[str, Any],
        key: str,
        path: str | None = None,
        *,
        required: bool = False,
        min_len: int | None = 1,
        max_len: int | None = None,
    ) -> list[Any] | None:
        """A JSON array member with length bounds."""
        path = path or key
        if not self._present(body, key, path, required):
            return None
        value = body[key]
        if not isinstance(value, list):
            self.fail(path, "Member must be a list")
            return None
        return value if self.length(path, len(value), min_len, max_len) else None

    def mapping(
        self,
        body: dict[str, Any],
        key: str,
        *,
        max_len: int | None = None,
        key_pattern: re.Pattern[str] | None = None,
        key_max: int | None = None,
        value_max: int | None = None,
    ) -> dict[str, Any] | None:
        """A JSON object member of strings with bounds on size, keys and values."""
        if not self._present(body, key, key, False):
            return None
        value = body[key]
        if not isinstance(value, dict):
            self.fail(key, "Member must be a map")
            return None
        ok = self.length(key, len(value), None, max_len)
        for name, item in value.items():
            if key_pattern is not None and not key_pattern.fullmatch(name):
                self.fail(
                    f"{key}.{name}", f"Map key must satisfy regular expression pattern: {key_pattern.pattern}"
                )
                ok = False
            if key_max is not None and len(name) > key_max:
                self.fail(f"{key}.{name}", f"Map key must have length less than or equal to {key_max}")
                ok = False
            if value_max is not None and (not isinstance(item, str) or len(item) > value_max):
                self.fail(
                    f"{key}.{name}", f"Map value must be a string of length less than or equal to {value_max}"
                )
                ok = False
        return value if ok else None

    def json_object(
        self, body: dict[str, Any], key: str, path: str, *, max_len: int
    ) -> dict[str, Any] | None:
        """A string member that must hold a JSON object (``properties``)."""
        text = self.string(body, key, path, max_len=max_len)
        if text is None:
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            self.fail(path, f"Member must be a valid JSON object string ({error.msg})")
            return None
        if not isinstance(parsed, dict):
            self.fail(path, "Member must be a valid JSON object string")
            return None
        return parsed


def attribution_source(checks: Checks, event: dict[str, Any], path: str) -> str | None:
    """``metricAttribution.eventAttributionSource`` of an event."""
    attribution = event.get("metricAttribution")
    if attribution is None:
        return None
    if not isinstance(attribution, dict):
        checks.fail(path, "Member must be a structure")
        return None
    return checks.string(
        attribution,
        "eventAttributionSource",
        f"{path}.eventAttributionSource",
        required=True,
        max_len=1024,
        min_len=0,
        pattern=_ATTRIBUTION,
    )


# --- typed requests ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PutEventsRequest:
    """PutEvents, checked: ``events`` holds one row of the ``events`` table per event of ``eventList``."""

    tracking_id: str
    user_id: str | None
    session_id: str
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class DatasetRequest:
    """PutItems or PutUsers, checked: the dataset ARN and each member's (id, properties as sent, properties
    parsed)."""

    dataset_arn: str | None
    members: list[tuple[str, Any, dict[str, Any]]]


@dataclass(frozen=True)
class RuntimeOptions:
    """What GetRecommendations and GetPersonalizedRanking share: the filter and the metadata columns."""

    filter_arn: str | None
    filter_values: dict[str, Any] | None
    columns: list[str] | None


@dataclass(frozen=True)
class RecommendationsRequest:
    """GetRecommendations, checked; exactly one of the two ARNs is set; ``user_id`` as sent (may be empty)."""

    campaign_arn: str | None
    recommender_arn: str | None
    item_id: str | None
    user_id: str | None
    num_results: int | None
    options: RuntimeOptions


@dataclass(frozen=True)
class RankingRequest:
    """GetPersonalizedRanking, checked."""

    campaign_arn: str
    user_id: str
    input_list: list[str]
    options: RuntimeOptions


def put_events_request(body: dict[str, Any]) -> PutEventsRequest:
    """PutEvents' body checked; InvalidInputException listing every violation."""
    checks = Checks()
    tracking_id = checks.string(body, "trackingId", required=True)
    user_id = checks.string(body, "userId")
    session_id = checks.string(body, "sessionId", required=True)
    events = checks.array(body, "eventList", required=True, min_len=1, max_len=10) or []
    rows: list[dict[str, Any]] = []
    for index, event in enumerate(events, start=1):
        path = f"eventList.{index}.member"
        if not isinstance(event, dict):
            checks.fail(path, "Member must be a structure")
            continue
        rows.append(_event_row(checks, event, path))
    checks.raise_if_any()
    assert tracking_id is not None  # checked above
    assert session_id is not None
    return PutEventsRequest(tracking_id, user_id, session_id, rows)


def _event_row(checks: Checks, event: dict[str, Any], path: str) -> dict[str, Any]:
    properties = checks.json_object(event, "properties", f"{path}.properties", max_len=1024)
    item_id = checks.string(event, "itemId", f"{path}.itemId")
    if item_id is None and properties and isinstance(properties.get("itemId"), str):
        item_id = properties["itemId"]  # the original API carried the item in properties
    impression = checks.array(event, "impression", f"{path}.impression", min_len=1, max_len=25)
    for position, entry in enumerate(impression or [], start=1):
        if not isinstance(entry, str):
            checks.fail(f"{path}.impression.{position}.member", "Member must be a string")
        else:
            checks.length(f"{path}.impression.{position}.member", len(entry), 1, 256)
    return {
        "event_id": checks.string(event, "eventId", f"{path}.eventId"),
        "event_type": checks.string(event, "eventType", f"{path}.eventType", required=True),
        "event_value": checks.number(event, "eventValue", f"{path}.eventValue"),
        "item_id": item_id,
        "sent_at": checks.number(event, "sentAt", f"{path}.sentAt", required=True),
        "properties": event.get("properties") if properties is not None else None,
        "recommendation_id": checks.string(event, "recommendationId", f"{path}.recommendationId", max_len=40),
        "impression": dumps(impression),
        "metric_attribution_source": attribution_source(checks, event, f"{path}.metricAttribution"),
    }


def dataset_request(body: dict[str, Any], dataset: str, max_properties: int) -> DatasetRequest:
    """PutItems' (``dataset`` ITEMS: ``items`` of ``itemId``) or PutUsers' (USERS: ``users`` of ``userId``)
    body checked."""
    checks = Checks()
    arn = _dataset_arn(checks, body, dataset)
    members, id_key = dataset.lower(), f"{dataset.lower()[:-1]}Id"
    entries = checks.array(body, members, required=True, min_len=1, max_len=10) or []
    rows = []
    for index, entry in enumerate(entries, start=1):
        path = f"{members}.{index}.member"
        if not isinstance(entry, dict):
            checks.fail(path, "Member must be a structure")
            continue
        member_id = checks.string(entry, id_key, f"{path}.{id_key}", required=True)
        properties = checks.json_object(entry, "properties", f"{path}.properties", max_len=max_properties)
        if member_id is not None:
            rows.append((member_id, entry.get("properties"), properties or {}))
    checks.raise_if_any()
    return DatasetRequest(arn, rows)


def _dataset_arn(checks: Checks, body: dict[str, Any], expected: str) -> str | None:
    arn = checks.string(body, "datasetArn", required=True, min_len=0, pattern=ARN_PATTERN)
    if arn is None:
        return None
    kind = arn.rsplit("/", 1)[-1].upper()
    if kind in _DATASET_TYPES and kind != expected:
        checks.errors.append(
            f"Dataset {arn} is a {kind} dataset; this operation needs an {expected} dataset."
        )
    return arn


def _runtime_options(checks: Checks, body: dict[str, Any]) -> RuntimeOptions:
    checks.mapping(body, "context", max_len=150, key_pattern=CONTEXT_KEY, key_max=150, value_max=1000)
    filter_arn = checks.string(body, "filterArn", min_len=0, pattern=ARN_PATTERN)
    filter_values = checks.mapping(
        body, "filterValues", max_len=25, key_pattern=FILTER_KEY, key_max=50, value_max=1000
    )
    columns: list[str] | None = None
    metadata = checks.mapping(body, "metadataColumns", max_len=1)
    if metadata:
        if set(metadata) != {"ITEMS"}:
            checks.fail("metadataColumns", "Member must have the single key ITEMS")
        else:
            columns = checks.array(metadata, "ITEMS", "metadataColumns.ITEMS", min_len=0, max_len=10)
            for position, column in enumerate(columns or [], start=1):
                if not isinstance(column, str) or not 1 <= len(column) <= 150:
                    checks.fail(f"metadataColumns.ITEMS.{position}.member", "Member must be a column name")
    return RuntimeOptions(filter_arn, filter_values, columns)


def recommendations_request(body: dict[str, Any]) -> RecommendationsRequest:
    """GetRecommendations' body checked (``context`` and ``promotions`` are checked and otherwise ignored)."""
    checks = Checks()
    campaign_arn = checks.string(body, "campaignArn", min_len=0, pattern=ARN_PATTERN)
    recommender_arn = checks.string(body, "recommenderArn", min_len=0, pattern=ARN_PATTERN)
    item_id = checks.string(body, "itemId", min_len=0)
    user_id = checks.string(body, "userId", min_len=0)
    options = _runtime_options(checks, body)
    limit = MAX_NUM_RESULTS_WITH_METADATA if options.columns else MAX_NUM_RESULTS
    num_results = checks.integer(body, "numResults", minimum=1, maximum=limit)
    checks.array(body, "promotions", min_len=0, max_len=1)
    checks.raise_if_any()
    if (body.get("campaignArn") is None) == (body.get("recommenderArn") is None):
        raise InvalidInputException("Provide either a campaignArn or a recommenderArn, but not both.")
    if not user_id and not item_id:
        raise InvalidInputException(
            "A userId is required for USER_PERSONALIZATION (or an itemId for RELATED_ITEMS)."
        )
    return RecommendationsRequest(campaign_arn, recommender_arn, item_id, user_id, num_results, options)


def ranking_request(body: dict[str, Any]) -> RankingRequest:
    """GetPersonalizedRanking's body checked."""
    checks = Checks()
    campaign_arn = checks.string(body, "campaignArn", required=True, min_len=0, pattern=ARN_PATTERN)
    user_id = checks.string(body, "userId", required=True, min_len=0)
    options = _runtime_options(checks, body)
    limit = MAX_NUM_RESULTS_WITH_METADATA if options.columns else MAX_NUM_RESULTS
    input_list = checks.array(body, "inputList", required=True, min_len=1, max_len=limit) or []
    for position, entry in enumerate(input_list, start=1):
        if not isinstance(entry, str) or len(entry) > 256:
            checks.fail(f"inputList.{position}.member", "Member must be a string of at most 256 characters")
    checks.raise_if_any()
    assert campaign_arn is not None  # checked above
    assert user_id is not None
    return RankingRequest(campaign_arn, user_id, input_list, options)
