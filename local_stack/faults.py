"""Injected faults for every local service: the next calls of a target fail, answer slowly, or both.

One shape for every service. A fault names a *target* (an operation such as ``PutEvents``, an API such as
``profile`` or ``tracking``, or ``*`` for every target of its service), an error name and/or an HTTP status,
a count (how many calls it hits), a delay, and optionally a retry-after and a message. A fault with an error
or a status fails the call; one with only a delay answers normally, late. Each service maps a fault to its
own wire answer (Personalize an ``X-Amzn-ErrorType``, Segment a status and an error body) and fills in what
the fault leaves out (Personalize the status of an error name, Segment the error code of a status).

Faults are taken in the order they were added, each call taking at most one; thread safe.

Admin path, on every service: ``GET /_local/faults`` lists the pending faults, ``POST`` queues one (a JSON
object with the arguments of :meth:`FaultInjector.add`) or several (a list; all or none), ``DELETE`` clears;
each answers ``{"faults": [...]}``. The target may also be given under the service's own word for it
(``operation`` for Personalize, ``api`` for Segment). :func:`inject_fault` posts one from another process.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

ANY = "*"
#: The methods of the admin path ``/_local/faults``.
ADMIN_METHODS = frozenset({"GET", "POST", "DELETE"})
_ERROR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,127}")
_FIELDS = ("target", "error", "status", "count", "delay_seconds", "retry_after", "message")


@dataclass(frozen=True)
class Fault:
    """What one call of ``target`` gets."""

    target: str
    error: str | None = None
    status: int | None = None
    delay_seconds: float = 0.0
    retry_after: int | None = None
    message: str | None = None

    @property
    def fails(self) -> bool:
        """Whether the call gets an error answer (else it is answered normally after ``delay_seconds``)."""
        return self.error is not None or self.status is not None


@dataclass
class _Queued:
    fault: Fault
    remaining: int


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class FaultInjector:
    """A thread-safe queue of faults for one service's ``targets``; each call takes the first that matches."""

    def __init__(self, targets: Iterable[str], *, target_alias: str | None = None) -> None:
        """``target_alias``: the service's own word for the target, also accepted by :meth:`add_from_dict`."""
        self.targets = frozenset(targets)
        self.target_alias = target_alias
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []  # in the order added

    def add(
        self,
        target: str = ANY,
        error: str | None = None,
        *,
        status: int | None = None,
        count: int = 1,
        delay_seconds: float = 0.0,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """Queue a fault for the next ``count`` calls of ``target``; ValueError when it is not valid."""
        queued = self._checked(target, error, status, count, delay_seconds, retry_after, message)
        with self._lock:
            self._queue.append(queued)
        return queued.fault

    def add_from_dict(self, spec: Mapping[str, Any]) -> Fault:
        """:meth:`add` from a JSON object (the admin path); unknown keys are an error."""
        return self.add_from_dicts([spec])[0]

    def add_from_dicts(self, specs: Iterable[object]) -> list[Fault]:
        """:meth:`add` for each JSON object of ``specs``, all or none; ValueError when one is not valid."""
        queued = [self._checked(**self._arguments(spec)) for spec in specs]
        with self._lock:
            self._queue.extend(queued)
        return [entry.fault for entry in queued]

    def take(self, target: str) -> Fault | None:
        """Consume one use of the oldest pending fault for ``target`` (or for every target), if any."""
        with self._lock:
            for entry in self._queue:
                if entry.fault.target not in (ANY, target):
                    continue
                entry.remaining -= 1
                if entry.remaining <= 0:
                    self._queue.remove(entry)
                return entry.fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        """Faults not yet consumed, oldest first, each with its remaining ``count`` (the arguments of
        :meth:`add`)."""
        with self._lock:
            return [{**asdict(entry.fault), "count": entry.remaining} for entry in self._queue]

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._queue.clear()

    def _arguments(self, spec: object) -> dict[str, Any]:
        if not isinstance(spec, Mapping):
            raise ValueError("a fault must be a JSON object")
        arguments = dict(spec)
        if self.target_alias is not None and self.target_alias in arguments:
            if "target" in arguments:
                raise ValueError(f"give the target as 'target' or {self.target_alias!r}, not both")
            arguments["target"] = arguments.pop(self.target_alias)
        unknown = set(arguments) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}")
        return {"target": ANY, "count": 1, "delay_seconds": 0.0, **arguments}

    def _checked(
        self,
        target: str,
        error: str | None = None,
        status: int | None = None,
        count: int = 1,
        delay_seconds: float = 0.0,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> _Queued:
        if target != ANY and target not in self.targets:
            raise ValueError(f"unknown target {target!r}; one of {sorted(self.targets)} or '*'")
        if error is not None and not (isinstance(error, str) and _ERROR_NAME.fullmatch(error)):
            raise ValueError(
                f"error must be an error name such as ThrottlingException (a status: status=), got {error!r}"
            )
        if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError(f"status must be an HTTP error status (400-599) or None, got {status!r}")
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        if not _is_number(delay_seconds) or delay_seconds < 0:
            raise ValueError(f"delay_seconds must be a number >= 0, got {delay_seconds!r}")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise ValueError(f"retry_after must be a non-negative integer of seconds, got {retry_after!r}")
        if message is not None and not isinstance(message, str):
            raise ValueError(f"message must be a string, got {message!r}")
        if error is None and status is None and delay_seconds <= 0:
            raise ValueError("a fault needs an error, a status, a positive delay_seconds, or some of them")
        fault = Fault(target, error, status, float(delay_seconds), retry_after, message)
        return _Queued(fault, count)


def answer_admin(injector: FaultInjector, method: str, payload: object) -> list[dict[str, Any]]:
    """The admin path ``/_local/faults`` (``method`` one of :data:`ADMIN_METHODS`): POST queues ``payload``
    (a fault object or a list of them), DELETE clears, GET only lists; the pending faults after. ValueError
    for a fault that is not valid."""
    if method == "POST":
        injector.add_from_dicts(payload if isinstance(payload, list) else [payload])
    elif method == "DELETE":
        injector.clear()
    return injector.pending()


def inject_fault(base_url: str, timeout: float = 5.0, **fault: Any) -> list[dict[str, Any]]:
    """Queue a fault in a service running in another process (POST /_local/faults); the pending faults, as
    the service lists them."""
    request = urllib.request.Request(  # noqa: S310 - the local service's own URL
        base_url.rstrip("/") + "/_local/faults",
        data=json.dumps(fault).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return list(json.loads(response.read())["faults"])
