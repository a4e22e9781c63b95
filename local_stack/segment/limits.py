"""Segment's request-rate limits as the local Segment enforces them (:mod:`local_stack.rate_limits`), and the
answers above them.

* **Profile API: 100 requests/s per space.** "To ensure low response times, every Space has a default rate
  limit of 100 requests/sec"; above it ``429 Too Many Requests`` with the error body the page documents,
  code ``rate_limit_error``, "Too many requests hit the API too quickly." The page names no ``Retry-After``
  header, so none is sent (https://segment.com/docs/unify/profile-api/, "Rate limit" and "Errors").
* **Tracking API: about 1,000 requests/s per workspace.** "For each workspace, Segment recommends you to not
  exceed 1,000 requests per second with the HTTP API ... Requests that exceed acceptable limits may be
  rejected with HTTP Status Code 429. When Segment rejects the requests, the response header contains
  ``Retry-After`` and ``X-RateLimit-Reset`` headers, which contains the number of seconds after which you can
  retry the request" (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/,
  "Rate limits"). Requests, not messages: a batch of 100 messages is one. The page gives no body for the
  429; the local one is the ``{"code", "message"}`` shape segment-analytics-python reads into its APIError.
  One local service is one workspace: every write key counts against the same bucket.
"""

from __future__ import annotations

from local_stack.loopback import JsonAnswer
from local_stack.rate_limits import Rate, whole_seconds

#: Limit names (the APIs, as fault targets name them), each at the real value.
DEFAULT_RATE_LIMITS: dict[str, Rate | None] = {"profile": Rate(100), "tracking": Rate(1000)}
#: The tracking API's key: the one workspace a local Segment service is.
WORKSPACE = "workspace"
#: The Profile API's message for a 429, from its error code table.
RATE_LIMIT_MESSAGE = "Too many requests hit the API too quickly."


def profile_throttled() -> JsonAnswer:
    """The Profile API's 429: its documented error body, code ``rate_limit_error``."""
    return JsonAnswer(429, {"error": {"code": "rate_limit_error", "message": RATE_LIMIT_MESSAGE}})


def tracking_throttled(wait: float) -> JsonAnswer:
    """The tracking API's 429 with ``Retry-After`` and ``X-RateLimit-Reset``: whole seconds until a retry
    can get in."""
    seconds = str(whole_seconds(wait))
    body = {"code": "too_many_requests", "message": f"rate limit exceeded: retry after {seconds} s"}
    return JsonAnswer(429, body, {"Retry-After": seconds, "X-RateLimit-Reset": seconds})
