"""Fixtures of the state machine tests: the local engine, and fakes swapped into the handler modules.

Personalize calls go through the functions' real adapters and real boto3 clients, answered by botocore's
``Stubber`` (so every request is checked against the API model) and recorded. The Segment side (Profile
API, tracking API) is replaced by in-memory fakes at the adapter interface.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.stub import Stubber

from local_stack.stepfunctions.engine import LocalEngine
from segment_personalize.errors import SegmentPersonalizeError


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
class FakeProfiles:
    """Segment's Profile API: traits by userId; ``failures`` are raised first, one per call."""

    traits_by_user: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[SegmentPersonalizeError] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def traits(
        self, user_id: str | None, anonymous_id: str | None, include: Any = ()
    ) -> dict[str, Any] | None:
        self.calls.append({"user_id": user_id, "anonymous_id": anonymous_id, "include": list(include)})
        if self.failures:
            raise self.failures.pop(0)
        return self.traits_by_user.get(user_id or "")


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


@dataclass
class Services:
    """What the five steps talk to, as seen by a test."""

    events: StubbedClient
    runtime: StubbedClient
    profiles: FakeProfiles
    segment: FakeSegment


@pytest.fixture(scope="module")
def module_engine() -> Iterator[LocalEngine]:
    """The ASL file in moto's interpreter, the real handlers behind the invoke server, no backoff waits."""
    with LocalEngine(skip_retry_waits=True) as running:
        yield running


@pytest.fixture
def engine(module_engine: LocalEngine) -> LocalEngine:
    """The module's engine with no executions, no dead letters and no recorded waits."""
    module_engine.reset()
    return module_engine


@pytest.fixture
def services(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """Stub the Personalize clients of Track and Recommend; fake the Profile API and Segment."""
    fakes = Services(
        events=StubbedClient(engine.functions["track"].personalize.client),
        runtime=StubbedClient(engine.functions["recommend"].personalize.client),
        profiles=FakeProfiles(),
        segment=FakeSegment(),
    )
    monkeypatch.setattr(engine.functions["filter_traits"], "profiles", fakes.profiles)
    monkeypatch.setattr(engine.functions["sync_profile"], "segment", fakes.segment)
    yield fakes
    fakes.events.close()
    fakes.runtime.close()
