"""The Lambda Invoke API on loopback: what boto3's Lambda client (``AWS_ENDPOINT_URL_LAMBDA``) reaches.

A threaded HTTP server on 127.0.0.1 in front of an :class:`~local_stack.lambda_runtime.invoker.Invoker`: a
handler's exception becomes Lambda's error payload with ``X-Amz-Function-Error: Unhandled``, so Step
Functions sees ``Error`` = the exception's class name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from local_stack.lambda_runtime.invoker import Invoker
from local_stack.loopback import LoopbackServer

_INVOKE_PATH_PREFIX = "/2015-03-31/functions/"
_INVOKE_PATH_SUFFIX = "/invocations"


class _Server(LoopbackServer):
    request_queue_size = 512  # moto opens one connection per task; bursts of executions must not be refused


class InvokeServer:
    """A threaded HTTP server on 127.0.0.1 that speaks the Lambda Invoke API for an :class:`Invoker`."""

    def __init__(self, invoker: Invoker, host: str = "127.0.0.1", port: int = 0) -> None:
        self.invoker = invoker

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: moto's task clients reuse their connections
            # headers and body are separate writes: without this, delayed ACKs stall each answer ~40 ms
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                if not (path.startswith(_INVOKE_PATH_PREFIX) and path.endswith(_INVOKE_PATH_SUFFIX)):
                    self._reply(
                        404, {"message": f"no route for {path}"}, {"x-amzn-ErrorType": "UnknownOperation"}
                    )
                    return
                requested = unquote(path[len(_INVOKE_PATH_PREFIX) : -len(_INVOKE_PATH_SUFFIX)])
                try:
                    function = invoker.resolve(requested)
                except KeyError:
                    self._reply(
                        404,
                        {"Type": "User", "message": f"Function not found: {requested}"},
                        {"x-amzn-ErrorType": "ResourceNotFoundException"},
                    )
                    return
                try:
                    payload = json.loads(body) if body else {}
                except ValueError:
                    self._reply(
                        400,
                        {"Type": "User", "message": "Could not parse request body into json"},
                        {"x-amzn-ErrorType": "InvalidRequestContentException"},
                    )
                    return
                result, failed = invoker.invoke(function, payload)
                headers = {"X-Amz-Executed-Version": "$LATEST"}
                if failed:
                    headers["X-Amz-Function-Error"] = "Unhandled"
                self._reply(200, result, headers)

            def _reply(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's signature
                return

        self._httpd = _Server((host, port), Handler)

    @property
    def url(self) -> str:
        return self._httpd.url

    def start(self) -> None:
        self._httpd.start("lambda-invoke")

    def stop(self) -> None:
        self._httpd.stop()
