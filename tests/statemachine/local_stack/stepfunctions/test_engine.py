"""The local engine: the environment it sets, waits, invoking the handlers in process (the in-process runtime,
one invocation at a time; concurrency in sandboxes: ``tests/statemachine/local_stack/lambda_runtime``)."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest

from local_stack.lambda_runtime.invoker import InvocationError
from local_stack.stepfunctions.engine import ExecutionTimeout, LocalEngine
from tests.events import load_event

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(60)]


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
