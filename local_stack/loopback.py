"""The threaded HTTP server every local service runs on: loopback, keep-alive, clean stop; and the JSON
request handler the local services share, so each one only maps a :class:`JsonRequest` to a
:class:`JsonAnswer`::

    server = JsonLoopbackServer(("127.0.0.1", 0), lambda request: JsonAnswer(200, {"ok": True}))
    url = server.start("local-thing")
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class LoopbackServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that serves in a background thread and, on :meth:`stop`, also ends the
    kept-alive connections (``shutdown`` alone keeps serving those until the client hangs up)."""

    daemon_threads = True
    request_queue_size = 256  # bursts of parallel Lambda invokes and SDK calls
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, name: str, poll_interval: float = 0.05) -> str:
        """Serve in a daemon thread; the base URL."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, end open connections, release the port (also of a server never started:
        ``shutdown`` would wait forever for a loop that never ran)."""
        if self._thread is not None:
            self.shutdown()
        self.close_connections()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Close kept-alive client connections so their threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


@dataclass(frozen=True)
class JsonRequest:
    """One HTTP request as a local service sees it."""

    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # names in lower case
    body: bytes | None  # None: larger than the handler's ``max_body_bytes``, left unread


@dataclass
class JsonAnswer:
    """One answer: ``body`` is encoded as JSON (bytes go out as they are, ``b""`` is an empty body);
    ``Content-Type: application/json`` unless ``headers`` name another; ``close`` ends the connection."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


#: What a service does with a request.
JsonHandle = Callable[[JsonRequest], JsonAnswer]


def internal_error() -> JsonAnswer:
    """The answer to a request whose handling raised: a 500 with a ``code`` and a ``message``."""
    return JsonAnswer(500, {"code": "server_error", "message": "internal error in the local service"})


class JsonRequestHandler(BaseHTTPRequestHandler):
    """Reads the body, hands the request to the server's ``handle_json`` and writes its answer: HTTP/1.1
    keep-alive, Nagle off, request lines logged at DEBUG only. A service subclasses it to set
    ``server_version``, ``timeout`` (idle keep-alive connections close after it) or ``max_body_bytes``."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall
    max_body_bytes: int | None = None  # a larger body is not read: ``body`` None, connection closed
    server: JsonLoopbackServer

    def _answer(self) -> None:
        body, must_close = self._read_body()
        request = JsonRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            answer = self.server.handle_json(request)
        except Exception:
            log.exception("%s failed on %s %s", self.server_version, self.command, self.path)
            answer = internal_error()
        self._send(answer, must_close or answer.close)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def _read_body(self) -> tuple[bytes | None, bool]:
        """The request body (None when too large to read) and whether the connection must close."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"", True  # not supported: answer, then drop the connection
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return b"", True
        if self.max_body_bytes is not None and length > self.max_body_bytes:
            return None, True
        return (self.rfile.read(length) if length > 0 else b""), False

    def _send(self, answer: JsonAnswer, close: bool) -> None:
        data = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        if not any(name.lower() == "content-type" for name in answer.headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s %s", self.server_version, self.address_string(), format % args)


class JsonLoopbackServer(LoopbackServer):
    """A :class:`LoopbackServer` that answers every request with ``handle_json``."""

    def __init__(
        self,
        address: tuple[str, int],
        handle_json: JsonHandle,
        handler: type[JsonRequestHandler] = JsonRequestHandler,
    ) -> None:
        super().__init__(address, handler)
        self.handle_json = handle_json
