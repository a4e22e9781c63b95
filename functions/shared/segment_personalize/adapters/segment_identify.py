"""Segment tracking API adapter: one ``identify`` through segment-analytics-python, sent before returning.

The library's client runs in sync mode: ``identify`` posts the message to ``{host}/v1/batch`` at once (one
attempt; the state machine owns retries) and raises on failure - ``APIError`` for a non-2xx answer,
``requests`` exceptions for the network. Both become ``SegmentUnavailable``. The ``on_error`` callback is
only used by the library's background consumer, which sync mode does not start.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests
from segment.analytics.client import Client
from segment.analytics.consumer import MAX_MSG_SIZE
from segment.analytics.request import APIError, DatetimeSerializer
from segment.analytics.utils import clean
from segment.analytics.version import VERSION

from segment_personalize.adapters.clients import SEGMENT_CALL
from segment_personalize.errors import ConfigurationError, SegmentUnavailable

#: Segment accepts at most 32 KB a message.
MAX_MESSAGE_BYTES: int = MAX_MSG_SIZE


def message_size(
    *,
    user_id: str | None,
    anonymous_id: str | None,
    traits: dict[str, Any],
    message_id: str,
    timestamp: datetime,
) -> int:
    """Bytes of the identify message as the library serializes it and checks it against 32 KB."""
    message = {
        "integrations": {},
        "anonymousId": anonymous_id,
        "timestamp": timestamp.isoformat(timespec="milliseconds"),
        "context": {"library": {"name": "analytics-python", "version": VERSION}},
        "type": "identify",
        "userId": user_id,
        "traits": traits,
        "messageId": message_id,
    }
    return len(json.dumps(clean(message), cls=DatetimeSerializer).encode())


class SegmentIdentify:
    """Sends identify calls synchronously through a segment-analytics-python client."""

    def __init__(self, client: Client) -> None:
        if not (client.sync_mode and client.send):
            raise ConfigurationError("the Segment client must be built with sync_mode=True and send=True")
        self.client = client

    @property
    def read_timeout(self) -> float:
        """The client's read timeout in seconds (its ``timeout`` may be a (connect, read) pair)."""
        timeout = self.client.timeout
        return float(timeout[1] if isinstance(timeout, tuple) else timeout)

    @classmethod
    def create(cls, *, write_key: str, host: str, timeout: float) -> SegmentIdentify:
        """A sync-mode client for ``host``: one attempt per call, no background thread; ``timeout`` is the
        read timeout (the library hands its ``timeout`` to requests, where one number bounds the connect and
        the read each: a (connect, read) pair keeps the call to :data:`SEGMENT_CALL`)."""
        return cls(
            Client(
                write_key,
                host=host,
                sync_mode=True,
                send=True,
                timeout=SEGMENT_CALL.with_read(timeout).requests_timeout(),
                max_retries=0,  # not used in sync mode; the state machine retries
            )
        )

    def identify(
        self,
        *,
        user_id: str | None,
        anonymous_id: str | None,
        traits: dict[str, Any],
        message_id: str,
        timestamp: datetime,
    ) -> None:
        """Send one identify; raise SegmentUnavailable unless Segment accepted it."""
        try:
            accepted, _ = self.client.identify(
                user_id=user_id,
                anonymous_id=anonymous_id,
                traits=traits,
                message_id=message_id,
                timestamp=timestamp,
            )
        except APIError as error:
            raise SegmentUnavailable(
                f"Segment tracking API refused the identify: HTTP {error.status} {error.code}"
            ) from error
        except requests.Timeout as error:
            raise SegmentUnavailable(
                f"Segment tracking API did not answer within {self.read_timeout} s"
            ) from error
        except requests.RequestException as error:
            raise SegmentUnavailable(
                f"Segment tracking API could not be reached ({type(error).__name__})"
            ) from error
        if not accepted:
            raise SegmentUnavailable("the Segment library did not send the identify")


def build_traits(
    trait: str, item_ids: list[str], recommendation_id: str | None, now: datetime
) -> dict[str, Any]:
    """The traits an identify sets: the item ids under ``trait``, the recommendation id they came from, and
    when (ISO 8601 in UTC, milliseconds, ``Z``)."""
    return {
        trait: item_ids,
        f"{trait}_recommendation_id": recommendation_id,
        f"{trait}_updated_at": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
