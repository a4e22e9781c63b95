"""What the five steps talk to, together, as the state machine tests swap it into the handler modules."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.personalize import StubbedClient
from tests.fakes.profiles import FakeProfiles
from tests.fakes.segment import FakeSegment


@dataclass
class Services:
    """What the five steps talk to, as seen by a test."""

    events: StubbedClient
    runtime: StubbedClient
    profiles: FakeProfiles
    segment: FakeSegment
