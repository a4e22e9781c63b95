"""Fixtures for the unit tests of the step functions: module loading with settings, loopback HTTP servers.

Unit tests make no network calls, by rule: every test of this layer runs with sockets disabled
(pytest-socket). A test that starts a server of its own on 127.0.0.1 may connect to loopback only: it uses
one of :data:`LOOPBACK_FIXTURES`, or carries ``pytest.mark.allow_hosts(["127.0.0.1"])`` itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.fakes.http import LoopbackServer

UNIT_DIR = Path(__file__).resolve().parent
#: Fixtures that start a server of their own on 127.0.0.1 (or hold a port where nothing listens).
LOOPBACK_FIXTURES = frozenset({"http_server", "closed_port_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sockets off for every unit test; loopback only for one that starts its own server."""
    for item in items:
        if not item.path.is_relative_to(UNIT_DIR) or item.get_closest_marker("allow_hosts"):
            continue
        if LOOPBACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.allow_hosts(["127.0.0.1"]))
        else:
            item.add_marker(pytest.mark.disable_socket)


#: Variables that configure the step functions; cleared before each load so a test sees only its own.
_SETTING_PREFIXES = (
    "PERSONALIZE_",
    "SEGMENT_",
    "RECOMMENDATION_",
    "FILTER_RULES",
    "AWS_ENDPOINT_URL",
    "IDEMPOTENCY_",
    "INTERACTION_EVENTS",
    "START_EVERY_MESSAGE",
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
