"""The Lambda Invoke API on loopback: what boto3's Lambda client (``AWS_ENDPOINT_URL_LAMBDA``) reaches.

``POST /2015-03-31/functions/{FunctionName}/invocations`` (https://docs.aws.amazon.com/lambda/latest/api/
API_Invoke.html) in front of a runtime (:class:`~local_stack.lambda_runtime.invoker.Runtime`):

* the function's result: 200 with the result as the body;
* a function error (the handler raised, timed out, its runtime died): 200 with ``X-Amz-Function-Error:
  Unhandled`` and Lambda's error payload, so Step Functions sees ``Error`` = its ``errorType``;
* the function's concurrency used up: 429 ``TooManyRequestsException`` (Step Functions:
  ``Lambda.TooManyRequestsException``);
* an unknown function: 404 ``ResourceNotFoundException``; a body that is not JSON: 400
  ``InvalidRequestContentException``; one over 6 MB: 413 ``RequestTooLargeException``.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import unquote, urlsplit

from local_stack.lambda_runtime.invoker import Runtime, TooManyRequests
from local_stack.loopback import JsonAnswer, JsonLoopbackServer, JsonRequest, JsonRequestHandler

_INVOKE_PATH_PREFIX = "/2015-03-31/functions/"
_INVOKE_PATH_SUFFIX = "/invocations"
#: "Invocation payload (request and response): 6 MB each for synchronous" (Lambda quotas,
#: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


class _Server(JsonLoopbackServer):
    request_queue_size = 512  # moto opens one connection per task; bursts of executions must not be refused


class _Handler(JsonRequestHandler):
    server_version = "lambda-invoke"
    max_body_bytes = MAX_PAYLOAD_BYTES


def _error(status: int, error_type: str, body: dict[str, object]) -> JsonAnswer:
    return JsonAnswer(status, body, {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())})


class InvokeServer:
    """A threaded HTTP server on 127.0.0.1 that speaks the Lambda Invoke API for a runtime."""

    def __init__(self, invoker: Runtime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.invoker = invoker
        self._httpd = _Server((host, port), self.answer, _Handler)

    def answer(self, request: JsonRequest) -> JsonAnswer:
        path = urlsplit(request.target).path
        if request.method != "POST" or not (
            path.startswith(_INVOKE_PATH_PREFIX) and path.endswith(_INVOKE_PATH_SUFFIX)
        ):
            return _error(404, "UnknownOperation", {"message": f"no route for {request.method} {path}"})
        requested = unquote(path[len(_INVOKE_PATH_PREFIX) : -len(_INVOKE_PATH_SUFFIX)])
        try:
            function = self.invoker.resolve(requested)
        except KeyError:
            return _error(
                404,
                "ResourceNotFoundException",
                {"Type": "User", "message": f"Function not found: {requested}"},
            )
        if request.body is None:
            return _error(
                413,
                "RequestTooLargeException",
                {
                    "Type": "User",
                    "message": f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the "
                    "InvokeFunction operation",
                },
            )
        try:
            payload = json.loads(request.body) if request.body else {}
        except ValueError:
            return _error(
                400,
                "InvalidRequestContentException",
                {"Type": "User", "message": "Could not parse request body into json"},
            )
        request_id = str(uuid.uuid4())  # the invocation's, as Lambda answers it in x-amzn-RequestId
        try:
            result, failed = self.invoker.invoke(function, payload, request_id)
        except TooManyRequests as throttled:
            body = {key: throttled.payload[key] for key in ("Reason", "Type", "message")}
            return _error(429, "TooManyRequestsException", body)
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": request_id}
        if failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return JsonAnswer(200, result, headers)

    @property
    def url(self) -> str:
        return self._httpd.url

    def start(self) -> None:
        self._httpd.start("lambda-invoke")

    def stop(self) -> None:
        self._httpd.stop()
