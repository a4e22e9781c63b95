"""The JSON request handler the local services share, on a loopback port."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from local_stack.loopback import JsonAnswer, JsonLoopbackServer, JsonRequest, JsonRequestHandler

# Each test starts its own server on 127.0.0.1 (the server fixture): loopback only (tests/unit/conftest.py).
pytestmark = [pytest.mark.unit, pytest.mark.allow_hosts(["127.0.0.1"])]


class _SmallBodies(JsonRequestHandler):
    server_version = "Echo/1.0"
    max_body_bytes = 16


def echo(request: JsonRequest) -> JsonAnswer:
    if request.target == "/raw":
        return JsonAnswer(200, b"", {"Content-Type": "text/plain", "X-Kind": "raw"})
    if request.target == "/boom":
        raise RuntimeError("boom")
    body = None if request.body is None else request.body.decode()
    return JsonAnswer(
        201, {"method": request.method, "agent": request.headers.get("user-agent"), "body": body}
    )


@pytest.fixture
def server() -> Iterator[JsonLoopbackServer]:
    running = JsonLoopbackServer(("127.0.0.1", 0), echo, _SmallBodies)
    running.start("echo")
    yield running
    running.stop()


def connect(server: JsonLoopbackServer) -> http.client.HTTPConnection:
    host, port = server.server_address[:2]
    return http.client.HTTPConnection(str(host), int(port), timeout=5)


def test_a_request_is_read_answered_as_json_and_the_connection_kept(server: JsonLoopbackServer) -> None:
    connection = connect(server)

    connection.request("POST", "/x", body=b'{"a": 1}', headers={"User-Agent": "t/1"})
    first = connection.getresponse()
    first_body = json.loads(first.read())
    connection.request("GET", "/raw")
    raw = connection.getresponse()

    assert (first.status, first.getheader("Content-Type")) == (201, "application/json")
    assert first.getheader("Server", "").startswith("Echo/1.0")
    assert first_body == {"method": "POST", "agent": "t/1", "body": '{"a": 1}'}
    assert (raw.status, raw.getheader("Content-Type"), raw.getheader("X-Kind"), raw.read()) == (
        200,
        "text/plain",
        "raw",
        b"",
    )
    connection.close()


def test_a_body_over_the_limit_is_not_read_and_the_connection_closes(server: JsonLoopbackServer) -> None:
    connection = connect(server)

    connection.request("POST", "/x", body=b"x" * 17)
    answer = connection.getresponse()

    assert json.loads(answer.read())["body"] is None
    assert answer.getheader("Connection") == "close"
    connection.close()


def test_a_failing_handle_is_a_500_not_a_dropped_connection(server: JsonLoopbackServer) -> None:
    connection = connect(server)

    connection.request("GET", "/boom")
    answer = connection.getresponse()

    assert (answer.status, json.loads(answer.read())["code"]) == (500, "server_error")
    connection.close()
