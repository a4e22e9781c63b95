"""Fixtures of the state machine tests: the local engine, and fakes swapped into the handler modules.

Personalize calls go through the functions' real adapters and real boto3 clients, answered by botocore's
``Stubber`` (so every request is checked against the API model) and recorded. The Segment side (Profile
API, tracking API) is replaced by in-memory fakes at the adapter interface (``tests/fakes``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack.stepfunctions.engine import LocalEngine
from tests.fakes.personalize import StubbedClient
from tests.fakes.profiles import FakeProfiles
from tests.fakes.segment import FakeSegment
from tests.fakes.services import Services


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
