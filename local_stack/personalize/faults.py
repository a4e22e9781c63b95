"""Fault injection: make the next calls of an operation fail or answer slowly, in order, thread safe."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

#: HTTP status of each error name the service can be told to answer with; others default to 400.
ERROR_STATUS: dict[str, int] = {
    "ThrottlingException": 400,
    "TooManyRequestsException": 429,
    "InternalServerError": 500,
    "ServiceUnavailableException": 503,
    "InvalidInputException": 400,
    "ResourceNotFoundException": 404,
    "ResourceInUseException": 409,
}

OPERATIONS = frozenset({"PutEvents", "PutItems", "PutUsers", "GetRecommendations", "GetPersonalizedRanking"})
ANY = "*"
_ERROR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,127}")


@dataclass
class Fault:
    """What the next ``count`` calls of ``operation`` (or of any operation, ``*``) get."""

    operation: str
    error: str | None
    count: int
    delay_seconds: float
    status: int
    message: str


class FaultInjector:
    """A queue of faults; each call takes the first fault that matches its operation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        operation: str = ANY,
        error: str | None = None,
        *,
        count: int = 1,
        delay_seconds: float = 0.0,
        status: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """Queue a fault: ``error`` (e.g. ``ThrottlingException``, ``InternalServerError``) and/or a delay."""
        if operation != ANY and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)} or '*'")
        if error is not None and not _ERROR_NAME.fullmatch(error):
            raise ValueError(f"error must be an error name such as ThrottlingException, got {error!r}")
        if error is None and delay_seconds <= 0:
            raise ValueError("a fault needs an error, a positive delay_seconds, or both")
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        if delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")
        fault = Fault(
            operation=operation,
            error=error,
            count=count,
            delay_seconds=float(delay_seconds),
            status=status if status is not None else ERROR_STATUS.get(error or "", 400),
            message=message or (f"Injected fault: {error}" if error else "Injected delay"),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, operation: str) -> Fault | None:
        """Consume one use of the first fault for ``operation``; a copy with ``count`` 1, or None."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.operation in (ANY, operation):
                    fault.count -= 1
                    if fault.count == 0:
                        del self._faults[index]
                    return Fault(**{**asdict(fault), "count": 1})
        return None

    def pending(self) -> list[dict[str, Any]]:
        """The queued faults, in order."""
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()


def inject_fault(base_url: str, timeout: float = 5.0, **fault: Any) -> list[dict[str, Any]]:
    """Queue a fault in a service running in another process (POST /_local/faults); the pending faults."""
    request = urllib.request.Request(  # noqa: S310 - the local service's own URL
        base_url.rstrip("/") + "/_local/faults",
        data=json.dumps(fault).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return list(json.loads(response.read())["faults"])
