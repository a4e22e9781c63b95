"""Tracing as deployed (``Tracing: Active``): each function patches only the libraries it names, and a
traced invocation sends its segment to the X-Ray daemon.

Each case runs in a fresh interpreter with the environment Lambda gives a traced function (the cold-start
bench's, ``bench.coldstart.import_environment(tracing=True)``), because the X-Ray SDK patches libraries
once per process. The X-Ray daemon is played by a UDP socket on loopback (``AWS_XRAY_DAEMON_ADDRESS``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.coldstart import import_environment

ROOT = Path(__file__).resolve().parents[3]

#: What each function calls: botocore for AWS, requests for Segment's APIs.
EXPECTED_PATCHES = {
    "entry": ["botocore"],
    "validate": [],
    "track": ["botocore"],
    "recommend": ["botocore"],
    "filter_traits": ["botocore", "requests"],
    "sync_profile": ["botocore", "requests"],
}

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"

_PATCHED = (
    "import importlib, json, sys\n"
    "importlib.import_module(f'functions.{sys.argv[1]}.app')\n"
    "from aws_xray_sdk.core import patcher\n"
    "from segment_personalize.observability import tracer\n"
    "print(json.dumps({'tracer': tracer is not None, 'patched': sorted(patcher._PATCHED_MODULES)}))\n"
)

_INVOKE_VALIDATE = (
    "import json, sys\n"
    "from functions.validate import app\n"
    "from tests.fakes import LambdaContext\n"
    "from tests.events import load_event\n"
    "event = load_event('order_completed')\n"
    "result = app.lambda_handler({'messageId': event['messageId'], 'event': event}, LambdaContext())\n"
    "print(json.dumps(result['status']))\n"
)


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script, *args],
        env=env or import_environment(tracing=True),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("function", sorted(EXPECTED_PATCHES))
def test_each_function_patches_only_what_it_calls(function: str) -> None:
    seen = json.loads(_run(_PATCHED, function))
    assert seen == {"tracer": True, "patched": EXPECTED_PATCHES[function]}


def test_tracing_off_builds_no_tracer_and_patches_nothing() -> None:
    seen = json.loads(_run(_PATCHED, "track", env=import_environment(tracing=False)))
    assert seen == {"tracer": False, "patched": []}


@pytest.mark.allow_hosts(["127.0.0.1"])  # it starts its own X-Ray daemon stand-in on loopback
def test_a_traced_invocation_sends_its_segment_to_the_daemon() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(10)
        env = import_environment(tracing=True)
        env["_X_AMZN_TRACE_ID"] = f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1"
        env["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{daemon.getsockname()[1]}"
        assert json.loads(_run(_INVOKE_VALIDATE, env=env)) == "accepted"
        header, _, body = daemon.recv(65536).decode().partition("\n")
    assert json.loads(header) == {"format": "json", "version": 1}
    document = json.loads(body)
    assert document["name"] == "## lambda_handler"
    assert document["trace_id"] == TRACE_ID


def test_an_unknown_library_is_refused() -> None:
    from segment_personalize.observability import handler

    with pytest.raises(ValueError, match="names \\['urllib3'\\]"):
        handler(traces=("urllib3",))
