"""Segment Profile API adapter: read a user's traits.

``GET {base}/v1/spaces/{space}/collections/users/profiles/{external_id}/traits`` with basic auth (the access
token as user name, empty password). Answers become domain errors: 429 ``ProfileApiThrottled``; 5xx, a
connection failure or a timeout ``ProfileApiUnavailable``; 401, 403 and other 4xx ``ProfileApiRejected``.
A 404 is a profile Segment does not know (yet): no traits, not an error.

A 429 is back-pressure, not an outage: "every Space has a default rate limit of 100 requests/sec", above it
"429 - Too Many Requests ... Segment recommends an exponential backoff of your requests", error code
``rate_limit_error`` (https://segment.com/docs/unify/profile-api/). So it is an error of its own, which the
state machine can retry on a longer, jittered schedule than an outage. The adapter itself never waits for it:
FilterTraits has one Profile API call's worth of its Lambda timeout (``adapters.clients.UNIT_OF_WORK``,
checked by ``tests/iac/test_budget.py``), and a wait plus a second call would outlast it, turning a named,
retried error into a Lambda timeout. A ``Retry-After`` (the page documents none; a proxy may send one) is
only reported in the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import requests

from segment_personalize.adapters.clients import SEGMENT_CALL
from segment_personalize.errors import ProfileApiRejected, ProfileApiThrottled, ProfileApiUnavailable

#: The Profile API returns at most 200 traits a page.
TRAITS_PAGE_LIMIT = 200


def external_id(user_id: str | None, anonymous_id: str | None) -> str:
    """``user_id:<id>`` when there is a userId, else ``anonymous_id:<id>``; the id URL-encoded."""
    if user_id:
        return "user_id:" + quote(user_id, safe="")
    if anonymous_id:
        return "anonymous_id:" + quote(anonymous_id, safe="")
    raise ValueError("a profile lookup needs a userId or an anonymousId")


class ProfileApi:
    """Reads profile traits from one Segment space."""

    def __init__(
        self,
        *,
        base_url: str,
        space_id: str,
        token: str,
        timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.space_id = space_id
        self.timeout = timeout
        self.session = session or requests.Session()
        self._auth = (token, "")

    def traits_url(self, user_id: str | None, anonymous_id: str | None) -> str:
        return (
            f"{self.base_url}/v1/spaces/{quote(self.space_id, safe='')}/collections/users/profiles/"
            f"{external_id(user_id, anonymous_id)}/traits"
        )

    def traits(
        self, user_id: str | None, anonymous_id: str | None, include: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """The profile's traits, or None when the profile does not exist (404).

        ``include`` names the traits wanted; Segment then returns only those, so one page holds them all.
        """
        params: dict[str, Any] = {"limit": TRAITS_PAGE_LIMIT}
        wanted = sorted(set(include))
        if wanted:
            params["include"] = ",".join(wanted)
        try:
            response = self.session.get(
                self.traits_url(user_id, anonymous_id),
                params=params,
                auth=self._auth,
                timeout=SEGMENT_CALL.with_read(self.timeout).requests_timeout(),
            )
        except requests.Timeout as error:
            raise ProfileApiUnavailable(f"Profile API did not answer within {self.timeout} s") from error
        except requests.RequestException as error:
            raise ProfileApiUnavailable(
                f"Profile API could not be reached ({type(error).__name__})"
            ) from error
        status = response.status_code
        if status == 404:
            return None
        if status == 429:
            raise throttled(response)
        if status >= 500:
            raise ProfileApiUnavailable(f"Profile API answered {status} {response.reason}")
        if status in (401, 403):
            raise ProfileApiRejected(
                f"Profile API answered {status} {response.reason}: check the Profile API access token "
                f"(SEGMENT_PROFILE_TOKEN or its secret) and that it belongs to space {self.space_id}"
            )
        if not 200 <= status < 300:
            raise ProfileApiRejected(
                f"Profile API answered {status} {response.reason}: check SEGMENT_SPACE_ID and "
                "SEGMENT_PROFILE_API_URL"
            )
        try:
            body = response.json()
        except ValueError as error:
            raise ProfileApiUnavailable(
                f"Profile API answered {status} with a body that is not JSON"
            ) from error
        traits = body.get("traits") if isinstance(body, dict) else None
        if not isinstance(traits, dict):
            raise ProfileApiUnavailable(f"Profile API answered {status} without a traits object")
        return traits


def throttled(response: requests.Response) -> ProfileApiThrottled:
    """The ProfileApiThrottled of a 429: Segment's error code and, when sent, its Retry-After."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    name = code[:60] if isinstance(code, str) and code else "Too Many Requests"
    retry_after = response.headers.get("Retry-After", "").strip()
    asked = f"; it asked to retry after {retry_after[:40]} s" if retry_after else ""
    return ProfileApiThrottled(
        f"Profile API answered 429 {name} (100 requests/s per space): retried by the state machine with "
        f"backoff{asked}"
    )
