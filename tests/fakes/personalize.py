"""Amazon Personalize as the tests see it: the real adapters' boto3 clients answered by botocore's Stubber
(every request checked against the API model), or PutEvents faked at the adapter interface (``EventTracker``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.stub import Stubber

from segment_personalize.adapters.interfaces import EventTracker
from segment_personalize.limits import MAX_EVENTS_PER_CALL


class StubbedClient:
    """A real boto3 client answered by a Stubber; every call's parameters are recorded."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.stubber = Stubber(client)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params", self._record, unique_id="statemachine-record")
        self.stubber.activate()

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests.append((model.name, copy.deepcopy(params)))

    def respond(self, method: str, response: dict[str, Any], expected: dict[str, Any] | None = None) -> None:
        self.stubber.add_response(method, response, expected)

    def fail(self, method: str, code: str, status: int, times: int = 1) -> None:
        for _ in range(times):
            self.stubber.add_client_error(method, service_error_code=code, http_status_code=status)

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.requests if name == operation]

    def close(self) -> None:
        self.stubber.deactivate()
        self.client.meta.events.unregister("provide-client-params", unique_id="statemachine-record")


@dataclass
class FakeEventTracker(EventTracker):
    """PutEvents at the adapter interface, in memory. Records every call's arguments (``calls``) and
    eventIds (``attempts``), and the eventIds of the calls that succeeded (``sent``). ``failures`` maps the
    first eventId of a batch to what its next call raises (once); ``during_call`` runs inside each call."""

    failures: dict[str, BaseException] = field(default_factory=dict)
    during_call: Callable[[], None] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[list[str]] = field(default_factory=list)
    sent: list[list[str]] = field(default_factory=list)

    def put_batch(
        self, *, tracking_id: str, session_id: str, user_id: str | None, events: Sequence[Mapping[str, Any]]
    ) -> None:
        ids = [event["eventId"] for event in events]
        assert len(ids) <= MAX_EVENTS_PER_CALL
        self.calls.append(
            {"tracking_id": tracking_id, "session_id": session_id, "user_id": user_id, "events": list(events)}
        )
        self.attempts.append(ids)
        if self.during_call is not None:
            self.during_call()
        failure = self.failures.pop(ids[0], None)
        if failure is not None:
            raise failure
        self.sent.append(ids)
