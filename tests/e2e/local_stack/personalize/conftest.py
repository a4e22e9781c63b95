"""Fixtures of the local Personalize e2e tests: a running service with the shop's resources, and clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.personalize import PersonalizeService
from tests.e2e.local_stack.personalize.shop import boto, make_service


@pytest.fixture
def service() -> Iterator[PersonalizeService]:
    with make_service() as running:
        yield running


@pytest.fixture
def events(service: PersonalizeService) -> Any:
    return boto("personalize-events", service.url)


@pytest.fixture
def runtime(service: PersonalizeService) -> Any:
    return boto("personalize-runtime", service.url)
