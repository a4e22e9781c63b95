"""Segment's tracking API at the adapter interface (``IdentifySender``), in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from segment_personalize.adapters.interfaces import IdentifySender


@dataclass
class FakeSegment(IdentifySender):
    """Records every identify (``calls``) and those Segment accepted (``sent``), each as its keyword
    arguments. Raises ``failures`` first, one a call, then ``failure`` on every call while it is set."""

    failure: Exception | None = None
    failures: list[Exception] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def identify(
        self,
        *,
        user_id: str | None,
        anonymous_id: str | None,
        traits: dict[str, Any],
        message_id: str,
        timestamp: datetime,
    ) -> None:
        message = {
            "user_id": user_id,
            "anonymous_id": anonymous_id,
            "traits": traits,
            "message_id": message_id,
            "timestamp": timestamp,
        }
        self.calls.append(message)
        if self.failures:
            raise self.failures.pop(0)
        if self.failure is not None:
            raise self.failure
        self.sent.append(message)
