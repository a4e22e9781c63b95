"""The Lambda Invoke API server (a real boto3 Lambda client over fake handler modules) and the loopback
server it runs on."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_stack.lambda_runtime.invoker import Invoker
from local_stack.lambda_runtime.server import InvokeServer
from local_stack.resources import function_arn
from segment_personalize.errors import PersonalizeThrottled

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(60)]


def _fake_modules(calls: list[Any]) -> dict[str, Any]:
    def echo(event: Any, context: Any) -> dict[str, Any]:
        calls.append((event, context.function_name, context.invoked_function_arn))
        return {"echo": event}

    def throttled(event: Any, context: Any) -> None:
        raise PersonalizeThrottled("PutEvents failed: ThrottlingException (HTTP 400)")

    def not_json(event: Any, context: Any) -> object:
        return object()

    return {
        "validate": SimpleNamespace(lambda_handler=echo),
        "track": SimpleNamespace(lambda_handler=throttled),
        "recommend": SimpleNamespace(lambda_handler=not_json),
    }


@pytest.fixture
def invoked() -> list[Any]:
    """What the fake handlers behind the invoke server received."""
    return []


@pytest.fixture
def lambda_client(invoked: list[Any]) -> Iterator[Any]:
    """A real boto3 Lambda client talking to an invoke server over fake handler modules."""
    server = InvokeServer(Invoker(_fake_modules(invoked)))
    server.start()
    try:
        yield boto3.client(
            "lambda",
            endpoint_url=server.url,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
        )
    finally:
        server.stop()


def test_the_invoke_server_answers_the_lambda_invoke_api_with_the_handlers_result(
    lambda_client: Any, invoked: list[Any]
) -> None:
    response = lambda_client.invoke(
        FunctionName=function_arn("validate"), Payload=json.dumps({"messageId": "m1"})
    )

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"echo": {"messageId": "m1"}}
    ((event, name, arn),) = invoked
    assert event == {"messageId": "m1"}
    assert (name, arn) == ("segment-personalize-validate", function_arn("validate"))


def test_a_handlers_exception_becomes_lambdas_unhandled_error_named_by_its_class(lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName=f"{function_arn('track')}:$LATEST", Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "PersonalizeThrottled"
    assert error["errorMessage"] == "PutEvents failed: ThrottlingException (HTTP 400)"
    assert isinstance(error["stackTrace"], list)
    assert error["stackTrace"]


def test_a_result_that_is_not_json_is_a_marshal_error(lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName="segment-personalize-recommend", Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.MarshalError"


def test_an_unknown_function_is_not_found(lambda_client: Any) -> None:
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="segment-personalize-nope", Payload=b"{}")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="other-validate", Payload=b"{}")


def test_a_server_never_started_stops_at_once() -> None:
    from http.server import BaseHTTPRequestHandler

    from local_stack.loopback import LoopbackServer

    server = LoopbackServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=5)
    assert not stopper.is_alive()  # shutdown() alone would wait forever for a loop that never ran
    host, port = server.server_address[:2]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((str(host), int(port)), timeout=1)
