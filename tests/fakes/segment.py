"""Segment's tracking API at the adapter interface (``IdentifySender``), in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segment_personalize.errors import SegmentPersonalizeError


@dataclass
class FakeSegment:
    """Segment's tracking API behind SegmentIdentify: records identify calls; raises ``failure`` if set."""

    failure: SegmentPersonalizeError | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def identify(self, **message: Any) -> None:
        self.calls.append(message)
        if self.failure is not None:
            raise self.failure
        self.sent.append(message)
