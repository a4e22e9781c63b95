"""Fixtures for the unit tests of the step functions: module loading with settings, loopback HTTP servers."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from tests.fakes.http import LoopbackServer

#: Variables that configure the step functions; cleared before each load so a test sees only its own.
_SETTING_PREFIXES = (
    "PERSONALIZE_",
    "SEGMENT_",
    "RECOMMENDATION_",
    "FILTER_RULES",
    "AWS_ENDPOINT_URL",
    "IDEMPOTENCY_",
)


@pytest.fixture
def load_app(
    monkeypatch: pytest.MonkeyPatch, reload_module: Callable[[str], ModuleType]
) -> Callable[..., ModuleType]:
    """Import (or reload) ``functions.<name>.app`` with exactly the given settings (fake AWS credentials
    come from the autouse fixture of ``tests/conftest.py``)."""

    def load(name: str, **env: str) -> ModuleType:
        for key in list(os.environ):
            if key.startswith(_SETTING_PREFIXES):
                monkeypatch.delenv(key)
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return reload_module(f"functions.{name}.app")

    return load


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A recording HTTP server on 127.0.0.1 (a fake Segment API)."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """An http:// address on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
