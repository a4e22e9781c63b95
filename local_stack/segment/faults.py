"""Injected faults: make the next N requests to one API fail with a status, answer slowly, or both."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

APIS: tuple[str, ...] = ("tracking", "profile")


@dataclass(frozen=True)
class Fault:
    """One injected behaviour. ``status`` None means answer normally (after ``delay_seconds``)."""

    api: str
    status: int | None = None
    delay_seconds: float = 0.0
    retry_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fault as JSON-ready data."""
        return asdict(self)


@dataclass
class _Entry:
    fault: Fault
    remaining: int


class FaultInjector:
    """A thread-safe FIFO of faults per API; each request takes at most one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Entry] = []  # in the order added

    def add(
        self,
        api: str,
        status: int | None = None,
        count: int = 1,
        delay_seconds: float = 0.0,
        retry_after: int | None = None,
    ) -> Fault:
        """Queue a fault for the next ``count`` requests to ``api`` ("tracking" or "profile")."""
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}, got {api!r}")
        if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError(f"status must be an HTTP error status (400-599) or None, got {status!r}")
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        if not isinstance(delay_seconds, int | float) or delay_seconds < 0:
            raise ValueError(f"delay_seconds must be >= 0, got {delay_seconds!r}")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise ValueError(f"retry_after must be a non-negative integer of seconds, got {retry_after!r}")
        if status is None and not delay_seconds:
            raise ValueError("a fault needs a status, a delay_seconds, or both")
        fault = Fault(api=api, status=status, delay_seconds=float(delay_seconds), retry_after=retry_after)
        with self._lock:
            self._queue.append(_Entry(fault, count))
        return fault

    def add_from_dict(self, spec: dict[str, Any]) -> Fault:
        """``add`` from a JSON object (the HTTP admin path); unknown keys are an error."""
        allowed = {"api", "status", "count", "delay_seconds", "retry_after"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}")
        if "api" not in spec:
            raise ValueError("fault needs 'api'")
        return self.add(
            api=spec["api"],
            status=spec.get("status"),
            count=spec.get("count", 1),
            delay_seconds=spec.get("delay_seconds", 0.0),
            retry_after=spec.get("retry_after"),
        )

    def take(self, api: str) -> Fault | None:
        """Consume the oldest pending fault for ``api``, if any."""
        with self._lock:
            for entry in self._queue:
                if entry.fault.api != api:
                    continue
                entry.remaining -= 1
                if entry.remaining <= 0:
                    self._queue.remove(entry)
                return entry.fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        """Faults not yet consumed, oldest first, each with its remaining ``count``."""
        with self._lock:
            return [{**entry.fault.to_dict(), "count": entry.remaining} for entry in self._queue]

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._queue.clear()
