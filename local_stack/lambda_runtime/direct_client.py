"""The Lambda client moto's Lambda tasks get with the engine's ``fast`` speed-ups: ``invoke`` calls the
engine's runtime in this process, with the answers the Invoke API server gives, and no HTTP.

What the server answers and what this returns are the same values as botocore parses them: 200 with the
result as ``Payload`` (``FunctionError: Unhandled`` with Lambda's error payload), a ``ClientError``
``TooManyRequestsException`` (HTTP 429) past the function's concurrency, ``ResourceNotFoundException``
(404) for an unknown function. Segment's side (the entry function) and other processes still come through
the server; ``fast=False`` sends the tasks there too, and ``tests/statemachine/local_stack/stepfunctions/
test_moto_patches.py`` checks that every path of the workflow has the same history either way.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from local_stack.lambda_runtime.invoker import Runtime, TooManyRequests


def _client_error(status: int, code: str, text: str, request_id: str, **fields: Any) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": text},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": request_id},
        **fields,
    }
    return ClientError(response, "Invoke")


class DirectLambdaClient:
    """Stands in for ``boto3.client("lambda")`` in moto's Lambda tasks: ``invoke`` only."""

    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime

    def invoke(self, *, FunctionName: str, Payload: bytes | str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        runtime = self._runtime()
        request_id = str(uuid.uuid4())
        try:
            function = runtime.resolve(FunctionName)
        except KeyError:
            raise _client_error(
                404,
                "ResourceNotFoundException",
                f"Function not found: {FunctionName}",
                request_id,
                Type="User",
            ) from None
        payload = json.loads(Payload) if Payload else {}
        try:
            result, failed = runtime.invoke(function, payload, request_id)
        except TooManyRequests as throttled:
            body = {key: throttled.payload[key] for key in ("Reason", "Type", "message")}
            raise _client_error(
                429, "TooManyRequestsException", body["message"], request_id, **body
            ) from None
        data = json.dumps(result).encode()
        response: dict[str, Any] = {
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": request_id},
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": StreamingBody(io.BytesIO(data), len(data)),
        }
        if failed:
            response["FunctionError"] = "Unhandled"
        return response

    def close(self) -> None:
        return
