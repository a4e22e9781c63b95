"""The local engine's pieces: the Lambda Invoke API server, the environment it sets, waits and concurrency."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_stack.lambda_runtime.invoker import InvocationError, Invoker
from local_stack.lambda_runtime.server import InvokeServer
from local_stack.resources import function_arn
from local_stack.stepfunctions.engine import ExecutionTimeout, LocalEngine
from segment_personalize.errors import PersonalizeThrottled
from tests.events import load_event

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


def test_the_engine_sets_the_environment_while_open_and_restores_everything_after() -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    def prepare(session: Any) -> dict[str, str]:
        secret = session.client("secretsmanager").create_secret(
            Name="write-key", SecretString="wk-from-secret"
        )
        return {"SEGMENT_WRITE_KEY_SECRET_ARN": secret["ARN"]}

    before = dict(os.environ)
    overrides = {"RECOMMENDATION_COUNT": "3", "PERSONALIZE_TRACKING_ID": "tracker-7", "SEGMENT_WRITE_KEY": ""}
    with LocalEngine(env=overrides, prepare=prepare) as engine:
        # the functions were imported with the engine's settings, the overrides and what prepare returned
        assert os.environ["AWS_ENDPOINT_URL_LAMBDA"] == engine.server.url
        assert engine.functions["recommend"].settings.recommendation_count == 3
        assert engine.functions["track"].settings.tracking_id == "tracker-7"
        sync_settings = engine.functions["sync_profile"].settings
        assert sync_settings.write_key is None
        assert sync_settings.write_key_secret_arn == engine.environment["SEGMENT_WRITE_KEY_SECRET_ARN"]
        assert engine.functions["sync_profile"].segment.client.write_key == "wk-from-secret"
        assert engine.functions["entry"].settings.state_machine_arn == engine.state_machine_arn
        # without skip_retry_waits, moto's retrier really sleeps
        assert retrier_decl.time is time
        url = engine.server.url
        with pytest.raises(RuntimeError, match="another LocalEngine"), LocalEngine():
            pass
    assert dict(os.environ) == before
    assert retrier_decl.time is time
    with pytest.raises(ConnectionRefusedError):  # the invoke server is gone
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1)


def test_wait_raises_when_an_execution_outlives_its_timeout(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a Track step that blocks until released
    started, release = threading.Event(), threading.Event()

    class SlowEvents:
        def put_batch(self, **_: Any) -> None:
            started.set()
            release.wait(10)

    monkeypatch.setattr(engine.functions["track"], "personalize", SlowEvents())
    arn = engine.start(load_event("anonymous_only"))
    assert started.wait(10)

    with pytest.raises(ExecutionTimeout, match="Track"):
        engine.wait(arn, timeout=0.3)

    release.set()
    assert engine.wait(arn, timeout=10)["status"] == "SUCCEEDED"


def test_many_executions_run_at_once(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    tracked: list[str] = []

    class Events:
        def put_batch(self, *, session_id: str, **_: Any) -> None:
            tracked.append(session_id)

    monkeypatch.setattr(engine.functions["track"], "personalize", Events())
    event = load_event("anonymous_only")
    arns = [
        engine.start({**event, "messageId": f"burst-{index}", "anonymousId": f"visitor-{index}"})
        for index in range(12)
    ]

    statuses = [engine.wait(arn, timeout=30)["status"] for arn in arns]

    assert statuses == ["SUCCEEDED"] * 12
    assert sorted(tracked) == sorted(f"visitor-{index}" for index in range(12))


def test_invoke_and_deliver_call_the_handlers_in_process(engine: LocalEngine) -> None:
    with pytest.raises(InvocationError) as raised:
        engine.deliver({"type": "track"})
    assert raised.value.payload["errorType"] == "InvalidSegmentEvent"
    assert "messageId" in raised.value.payload["errorMessage"]

    result = engine.invoke("validate", {"messageId": "m1", "event": load_event("page")})
    assert result["status"] == "ignored"


def test_an_engine_holds_no_invoke_server_until_it_opens() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        _ = LocalEngine().server


def test_a_server_never_started_stops_at_once() -> None:
    from http.server import BaseHTTPRequestHandler

    from local_stack.loopback import LoopbackServer

    server = LoopbackServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=5)
    assert not stopper.is_alive()  # shutdown() alone would wait forever for a loop that never ran
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.server_address[:2], timeout=1)
