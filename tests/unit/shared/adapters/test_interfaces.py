"""Each adapter and each fake of ``tests/fakes`` offers its Protocol's methods with the same parameters.

mypy checks the adapters against the Protocols where the handlers annotate them; this checks the fakes too
(the tests are not type checked), so that a fake cannot drift from the adapter it stands in for.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from segment_personalize.adapters.idempotency import Idempotency
from segment_personalize.adapters.interfaces import (
    EventTracker,
    IdentifySender,
    OncePerKey,
    ProfileTraits,
    RecommendationSource,
)
from segment_personalize.adapters.personalize import PersonalizeEvents, PersonalizeRecommendations
from segment_personalize.adapters.profile_api import ProfileApi
from segment_personalize.adapters.segment_identify import SegmentIdentify
from tests.fakes.personalize import FakeEventTracker
from tests.fakes.profiles import FakeProfiles
from tests.fakes.segment import FakeSegment

pytestmark = pytest.mark.unit

IMPLEMENTATIONS: list[tuple[type[Any], type[Any]]] = [
    (EventTracker, PersonalizeEvents),
    (EventTracker, FakeEventTracker),
    (RecommendationSource, PersonalizeRecommendations),
    (ProfileTraits, ProfileApi),
    (ProfileTraits, FakeProfiles),
    (IdentifySender, SegmentIdentify),
    (IdentifySender, FakeSegment),
    (OncePerKey, Idempotency),
]


def parameters(method: Any) -> list[tuple[str, Any, Any]]:
    """Name, kind and default of each parameter (the types are mypy's to check)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()]


@pytest.mark.parametrize(
    ("protocol", "implementation"),
    IMPLEMENTATIONS,
    ids=[implementation.__name__ for _, implementation in IMPLEMENTATIONS],
)
def test_the_implementation_has_every_method_of_its_protocol(
    protocol: type[Any], implementation: type[Any]
) -> None:
    methods = [name for name, value in vars(protocol).items() if inspect.isfunction(value) and name[0] != "_"]
    assert methods
    for name in methods:
        assert parameters(getattr(implementation, name)) == parameters(getattr(protocol, name)), name
