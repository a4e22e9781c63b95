"""Segment's Profile API at the adapter interface (``ProfileTraits``), in memory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from segment_personalize.adapters.interfaces import ProfileTraits


@dataclass
class FakeProfiles(ProfileTraits):
    """Traits by userId (a profile not there is None, as a 404); ``failures`` are raised first, one per call;
    every lookup is recorded in ``calls``."""

    traits_by_user: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Exception] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def traits(
        self, user_id: str | None, anonymous_id: str | None, include: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        self.calls.append({"user_id": user_id, "anonymous_id": anonymous_id, "include": list(include)})
        if self.failures:
            raise self.failures.pop(0)
        return self.traits_by_user.get(user_id or "")
