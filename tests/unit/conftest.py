"""Fixtures for the unit tests of the step functions: module loading with settings, loopback HTTP servers."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

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


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    delay: float = 0.0


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers from a queue of replies."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                server.requests.append(
                    Recorded(
                        method=self.command,
                        path=parts.path,
                        query=parse_qs(parts.query),
                        headers={key.lower(): value for key, value in self.headers.items()},
                        body=self.rfile.read(length) if length else b"",
                    )
                )
                reply = server.replies.popleft() if server.replies else server.default
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def reply(self, status: int = 200, body: Any = None, delay: float = 0.0) -> None:
        self.replies.append(Reply(status, {} if body is None else body, delay))

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


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
