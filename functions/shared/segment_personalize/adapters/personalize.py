"""Amazon Personalize adapters: PutEvents and GetRecommendations behind small classes.

Each adapter holds one boto3 client (``personalize-events`` or ``personalize-runtime``) and turns every
botocore failure into a domain error of :mod:`segment_personalize.errors`, chained with ``from``:
throttling becomes ``PersonalizeThrottled``, 5xx and network failures ``PersonalizeUnavailable``, and a
request the service refuses ``PersonalizeRejected``. Field limits that botocore does not check client side
(maximum lengths) are checked here before any call, so a bad request never reaches the service half sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from segment_personalize.contract import RecommendedItem
from segment_personalize.errors import (
    ACCESS_DENIED_CODES,
    ConfigurationError,
    PersonalizeRejected,
    PersonalizeThrottled,
    PersonalizeUnavailable,
    permission_denied,
)
from segment_personalize.limits import (
    MAX_EVENTS_PER_CALL,
    MAX_FILTER_KEY_LENGTH,
    MAX_FILTER_VALUE_LENGTH,
    MAX_ID_LENGTH,
    MAX_IMPRESSION_IDS,
    MAX_PROPERTIES_LENGTH,
    MAX_RECOMMENDATION_ID_LENGTH,
)

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequests",
        "TooManyRequestsException",
        "LimitExceeded",
        "LimitExceededException",
        "RequestLimitExceeded",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "InternalServerError",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceException",
    }
)


def translate_client_error(error: ClientError, operation: str) -> Exception:
    """The domain error for a ClientError of ``operation``, by error code, else by HTTP status."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    message = str(details.get("Message", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    text = f"{operation} failed: {code} (HTTP {status or 'unknown'}): {message}".rstrip(": ")
    if code in ACCESS_DENIED_CODES:
        return permission_denied(f"personalize:{operation}", code, message)
    if code in THROTTLING_CODES or status == 429:
        return PersonalizeThrottled(text)
    if code in UNAVAILABLE_CODES or status >= 500:
        return PersonalizeUnavailable(text)
    return PersonalizeRejected(text)


@contextmanager
def personalize_errors(operation: str) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into Personalize domain errors."""
    try:
        yield
    except ClientError as error:
        raise translate_client_error(error, operation) from error
    except (BotocoreConnectionError, HTTPClientError) as error:
        # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError, ...
        raise PersonalizeUnavailable(
            f"{operation} failed: Amazon Personalize could not be reached ({type(error).__name__})"
        ) from error
    except ParamValidationError as error:
        raise PersonalizeRejected(f"{operation} failed: the request is not valid: {error}") from error


def _check_length(where: str, value: str, maximum: int) -> None:
    if not 1 <= len(value) <= maximum:
        raise PersonalizeRejected(
            f"{where} is {len(value)} characters long; Amazon Personalize accepts 1 to {maximum}"
        )


def check_put_events(session_id: str, user_id: str | None, events: Sequence[Mapping[str, Any]]) -> None:
    """Raise PersonalizeRejected naming the first field that PutEvents would refuse."""
    _check_length("PutEvents sessionId", session_id, MAX_ID_LENGTH)
    if user_id is not None:
        _check_length("PutEvents userId", user_id, MAX_ID_LENGTH)
    for index, event in enumerate(events):
        where = f"PutEvents eventList[{index}]"
        for name in ("eventId", "eventType", "itemId"):
            if name in event:
                _check_length(f"{where}.{name}", event[name], MAX_ID_LENGTH)
        if "recommendationId" in event:
            _check_length(
                f"{where}.recommendationId", event["recommendationId"], MAX_RECOMMENDATION_ID_LENGTH
            )
        if "impression" in event:
            impression = event["impression"]
            if not 1 <= len(impression) <= MAX_IMPRESSION_IDS:
                raise PersonalizeRejected(
                    f"{where}.impression has {len(impression)} item ids; "
                    f"Amazon Personalize accepts 1 to {MAX_IMPRESSION_IDS}"
                )
            for position, item_id in enumerate(impression):
                _check_length(f"{where}.impression[{position}]", item_id, MAX_ID_LENGTH)
        if "properties" in event:
            _check_length(f"{where}.properties", event["properties"], MAX_PROPERTIES_LENGTH)


class PersonalizeEvents:
    """PutEvents through an event tracker (a ``personalize-events`` client)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def put_events(
        self, *, tracking_id: str, session_id: str, user_id: str | None, events: Sequence[Mapping[str, Any]]
    ) -> int:
        """Send ``events`` in calls of at most 10; return the number of calls.

        Every field limit is checked before the first call, so an invalid event sends nothing.
        """
        check_put_events(session_id, user_id, events)
        for start in range(0, len(events), MAX_EVENTS_PER_CALL):
            self.put_batch(
                tracking_id=tracking_id,
                session_id=session_id,
                user_id=user_id,
                events=events[start : start + MAX_EVENTS_PER_CALL],
            )
        return math.ceil(len(events) / MAX_EVENTS_PER_CALL)

    def put_batch(
        self, *, tracking_id: str, session_id: str, user_id: str | None, events: Sequence[Mapping[str, Any]]
    ) -> None:
        """One PutEvents call of at most 10 events that ``check_put_events`` has passed."""
        params: dict[str, Any] = {
            "trackingId": tracking_id,
            "sessionId": session_id,
            "eventList": [dict(event) for event in events],
        }
        if user_id is not None:
            params["userId"] = user_id
        with personalize_errors("PutEvents"):
            self.client.put_events(**params)


@dataclass(frozen=True)
class Recommendations:
    """A GetRecommendations answer: the recommendation id (None when absent) and the ranked items."""

    recommendation_id: str | None
    items: list[RecommendedItem]


def quote_filter_values(values: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """filterValues as Personalize expects them: each value a quoted, comma-separated list.

    ``{"CATEGORY": ["shoes", "bags"]}`` becomes ``{"CATEGORY": '"shoes","bags"'}``; backslashes and double
    quotes inside a value are escaped with a backslash. Raises ConfigurationError past Personalize's limits.
    """
    quoted: dict[str, str] = {}
    for key, items in values.items():
        if not 1 <= len(key) <= MAX_FILTER_KEY_LENGTH:
            raise ConfigurationError(
                f"PERSONALIZE_FILTER_VALUES key {key!r} must be 1 to {MAX_FILTER_KEY_LENGTH} characters"
            )
        text = ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
        if not text or len(text) > MAX_FILTER_VALUE_LENGTH:
            raise ConfigurationError(
                f"PERSONALIZE_FILTER_VALUES[{key!r}] must quote to 1 to {MAX_FILTER_VALUE_LENGTH} characters "
                f"(got {len(text)})"
            )
        quoted[key] = text
    return quoted


class PersonalizeRecommendations:
    """GetRecommendations from a campaign or a recommender (a ``personalize-runtime`` client)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get_recommendations(
        self,
        *,
        user_id: str,
        num_results: int,
        campaign_arn: str | None = None,
        recommender_arn: str | None = None,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
        metadata_columns: Sequence[str] = (),
    ) -> Recommendations:
        """Ask for ``num_results`` items for ``user_id`` from exactly one of a campaign or a recommender."""
        if bool(campaign_arn) == bool(recommender_arn):
            raise ConfigurationError(
                "GetRecommendations needs exactly one of a campaign and a recommender ARN"
            )
        _check_length("GetRecommendations userId", user_id, MAX_ID_LENGTH)
        params: dict[str, Any] = {"userId": user_id, "numResults": num_results}
        if campaign_arn:
            params["campaignArn"] = campaign_arn
        else:
            params["recommenderArn"] = recommender_arn
        if filter_arn:
            params["filterArn"] = filter_arn
            if filter_values:
                params["filterValues"] = dict(filter_values)
        if metadata_columns:
            params["metadataColumns"] = {"ITEMS": list(metadata_columns)}
        with personalize_errors("GetRecommendations"):
            response = self.client.get_recommendations(**params)
        items = [
            RecommendedItem(
                item_id=entry["itemId"],
                score=float(entry["score"]) if entry.get("score") is not None else None,
                metadata=dict(entry.get("metadata") or {}),
            )
            for entry in response.get("itemList", [])
            if entry.get("itemId")
        ]
        return Recommendations(recommendation_id=response.get("recommendationId") or None, items=items)
