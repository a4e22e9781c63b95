"""Logger, metrics and tracer in one place, and the one decorator every handler uses.

Log lines carry the Segment messageId as correlation id (every workflow payload has ``messageId`` at its
top level). Nothing personal is logged at INFO: ids of users, traits and e-mail addresses stay at DEBUG.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "segment-personalize"
NAMESPACE = "SegmentPersonalize"


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to whatever ``sys.stdout`` is when a line is logged: Lambda sends it to CloudWatch Logs, and
    the local stack redirects it to its function log, as it does for the metrics Powertools prints."""

    @property  # type: ignore[override,unused-ignore]
    def stream(self) -> object:
        return sys.stdout

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def tracing_enabled() -> bool:
    """Powertools' own rule: on in Lambda unless ``POWERTOOLS_TRACE_DISABLED``; off in SAM local, Chalice
    local and anywhere else (tests, the local stack)."""
    return not Tracer._is_tracer_disabled()


logger = Logger(service=SERVICE, logger_handler=_StdoutHandler())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
#: Built only when tracing is on: a Tracer loads the X-Ray SDK. Off, there is nothing to trace and no Tracer,
#: as if it were disabled. It patches nothing by itself: Powertools' default patches every library the
#: X-Ray SDK supports, importing botocore, requests, sqlite3 and http.client into functions that never call
#: them (about 0.1 s of Validate's cold start); each handler names the libraries it calls (``handler``).
tracer: Tracer | None = Tracer(service=SERVICE, auto_patch=False) if tracing_enabled() else None

#: The libraries a handler may name in ``traces`` (X-Ray SDK names): AWS calls, and Segment's HTTP APIs.
TRACEABLE = frozenset({"botocore", "requests"})

Handler = TypeVar("Handler", bound=Callable[..., Any])

__all__ = ["MetricUnit", "handler", "logger", "metrics", "tracer", "tracing_enabled"]


def handler(*, traces: Sequence[str]) -> Callable[[Handler], Handler]:
    """The decorator of every handler. Apply, in this order: logger context with messageId correlation,
    metrics flush, tracing (when on), with an X-Ray subsegment for each call made through the libraries
    named in ``traces`` (``"botocore"`` for AWS calls, ``"requests"`` for Segment's APIs)."""
    unknown = set(traces) - TRACEABLE
    if unknown:
        raise ValueError(f"handler(traces=...) names {sorted(unknown)}; traceable: {sorted(TRACEABLE)}")
    if tracer is not None and traces:
        tracer.patch(modules=sorted(traces))  # the X-Ray SDK patches each library once per process

    def decorate(function: Handler) -> Handler:
        wrapped = tracer.capture_lambda_handler(function) if tracer is not None else function
        wrapped = metrics.log_metrics(wrapped)
        wrapped = logger.inject_lambda_context(correlation_id_path="messageId", log_event=False)(wrapped)
        return functools.wraps(function)(wrapped)  # type: ignore[return-value]

    return decorate
