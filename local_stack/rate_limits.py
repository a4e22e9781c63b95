"""The request-rate quotas of the real services, enforced by the local ones: one token-bucket limiter for all.

Each service names its limits (``profile``, ``tracking``; ``GetRecommendations``, ``PutEvents``, ...) and
gives every request a key (the Segment space, the Personalize campaign, ...): a request takes one token from
the bucket of each (limit, key) it counts against, or none when one of them is empty, and is then refused with
the service's own throttling answer. A bucket holds ``burst`` tokens (one second's worth unless given) and
refills at ``per_second``; a limit set to None is off.

**Default: the real values, on.** The local stack then behaves like production at production rates (a laptop
running the workflow makes a few dozen calls a second, far below every limit, so ``make run`` never meets
one), and a test scales them down to meet them: ``Rate(2, burst=5)``, or :func:`scaled`. Turn one off with
None. The figures and their pages are in each service's ``DEFAULT_RATE_LIMITS`` and in docs/limits.md.

Admin path, on every service: ``GET /_local/limits`` lists the limits and how many requests each refused,
``POST`` sets some (``{"profile": {"per_second": 5, "burst": 5}}``; ``{"profile": null}`` turns one off),
``DELETE`` restores the limits the service started with and clears the counts; each answers
``{"limits": {...}, "refused": {...}}``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Rate:
    """A token bucket: ``per_second`` tokens a second, at most ``burst`` kept (None: ``per_second``)."""

    per_second: float
    burst: float | None = None

    def __post_init__(self) -> None:
        if not _positive(self.per_second):
            raise ValueError(f"per_second must be a number > 0, got {self.per_second!r}")
        if self.burst is not None and not (_positive(self.burst) and self.burst >= 1):
            raise ValueError(f"burst must be a number >= 1 (or None: one second's worth), got {self.burst!r}")

    @property
    def capacity(self) -> float:
        """Tokens a full bucket holds: ``burst``, else one second's worth (at least one request)."""
        return float(self.burst) if self.burst is not None else max(1.0, float(self.per_second))

    def as_json(self) -> dict[str, float | None]:
        return asdict(self)


#: Limits by name; a name mapped to None is off.
Limits = Mapping[str, Rate | None]


def scaled(limits: Limits, factor: float) -> dict[str, Rate | None]:
    """``limits`` with every rate and burst times ``factor`` (a burst at least 1), e.g. 0.01 for tests."""
    if not _positive(factor):
        raise ValueError(f"factor must be a number > 0, got {factor!r}")
    return {
        name: None if rate is None else Rate(rate.per_second * factor, max(1.0, rate.capacity * factor))
        for name, rate in limits.items()
    }


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per (limit, key), thread safe: the service's ``defaults`` (every limit it has) with
    ``overrides``; ``clock`` is a monotonic clock in seconds."""

    def __init__(
        self, defaults: Limits, overrides: Limits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.names = frozenset(defaults)
        self._check(overrides or {})
        self.initial: dict[str, Rate | None] = {**defaults, **(overrides or {})}
        self._clock = clock
        self._lock = threading.Lock()
        self._limits = dict(self.initial)
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._refused: Counter[tuple[str, str]] = Counter()

    def take(self, *counted: tuple[str, str]) -> float | None:
        """Take one token from the bucket of each (limit, key) of ``counted``: None when every one had one,
        else (nothing taken) the seconds until all of them will have. Limits that are off or unknown pass."""
        with self._lock:
            now = self._clock()
            buckets = []
            wait = 0.0
            for limit, key in counted:
                rate = self._limits.get(limit)
                if rate is None:
                    continue
                bucket = self._refilled(limit, key, rate, now)
                buckets.append(bucket)
                if bucket.tokens < 1.0:
                    wait = max(wait, (1.0 - bucket.tokens) / rate.per_second)
                    self._refused[(limit, key)] += 1
            if wait > 0:
                return wait
            for bucket in buckets:
                bucket.tokens -= 1.0
            return None

    def configure(self, changes: Limits) -> None:
        """Set (or with None turn off) some limits, their buckets full; ValueError for an unknown name."""
        self._check(changes)
        with self._lock:
            self._limits.update(changes)
            self._buckets = {k: b for k, b in self._buckets.items() if k[0] not in changes}

    def reset(self) -> None:
        """The limits the service started with, full buckets, no refusals counted."""
        with self._lock:
            self._limits = dict(self.initial)
            self._buckets.clear()
            self._refused.clear()

    def limits(self) -> dict[str, Rate | None]:
        with self._lock:
            return dict(self._limits)

    def refused(self) -> dict[str, dict[str, int]]:
        """How many requests each limit refused, by key."""
        with self._lock:
            counts: dict[str, dict[str, int]] = {}
            for (limit, key), count in sorted(self._refused.items()):
                counts.setdefault(limit, {})[key] = count
            return counts

    def _check(self, changes: Limits) -> None:
        unknown = set(changes) - self.names
        if unknown:
            raise ValueError(f"unknown limit(s) {sorted(unknown)}; one of {sorted(self.names)}")

    def _refilled(self, limit: str, key: str, rate: Rate, now: float) -> _Bucket:
        bucket = self._buckets.get((limit, key))
        if bucket is None:
            bucket = self._buckets[(limit, key)] = _Bucket(rate.capacity, now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(rate.capacity, bucket.tokens + elapsed * rate.per_second)
            bucket.updated = now
        return bucket


def whole_seconds(wait: float) -> int:
    """A wait as the whole seconds a ``Retry-After`` header gives: rounded up, at least 1."""
    return max(1, math.ceil(wait))


def parse_limits(payload: object) -> dict[str, Rate | None]:
    """The limits of an admin POST body: ``{name: {"per_second": n, "burst": m} | null}``; ValueError."""
    if not isinstance(payload, Mapping):
        raise ValueError('limits must be a JSON object such as {"profile": {"per_second": 5, "burst": 5}}')
    limits: dict[str, Rate | None] = {}
    for name, spec in payload.items():
        if spec is None:
            limits[name] = None
            continue
        if not isinstance(spec, Mapping) or set(spec) - {"per_second", "burst"} or "per_second" not in spec:
            raise ValueError(f'limit {name!r} must be {{"per_second": n, "burst": m}} or null, got {spec!r}')
        limits[name] = Rate(spec["per_second"], spec.get("burst"))
    return limits


def answer_admin(limiter: RateLimiter, method: str, payload: object) -> dict[str, Any]:
    """The admin path ``/_local/limits``: POST sets, DELETE restores the initial limits, GET lists;
    ValueError for a body that is not valid."""
    if method == "POST":
        limiter.configure(parse_limits(payload))
    elif method == "DELETE":
        limiter.reset()
    return {
        "limits": {name: None if rate is None else rate.as_json() for name, rate in limiter.limits().items()},
        "refused": limiter.refused(),
    }


def _positive(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value > 0
