"""``segment-personalize serve`` as a user runs it: another process reaches the stack, Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from tests.events import load_event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_other_processes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    moto_port = _free_port()
    command = [sys.executable, "-m", "cli.main", "--data-dir", str(tmp_path), "serve"]
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [*command, "--moto-port", str(moto_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # as a shell or CI starts a background job: SIGINT inherited as ignored; Ctrl-C must still stop it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        banner = ""
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while "export AWS_ENDPOINT_URL" not in banner and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            banner += line
        match = re.search(r"lambda \(Invoke API\)\s+(\S+)", banner)
        assert match, banner
        session = boto3.session.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        # when another process hands a Segment message to the entry function, as Segment does
        entry = session.client("lambda", endpoint_url=match.group(1))
        message = load_event("track_sku")
        answer = json.loads(
            entry.invoke(FunctionName="segment-personalize-entry", Payload=json.dumps(message))[
                "Payload"
            ].read()
        )
        started = answer["started"][0]
        assert started["status"] == "started"
        # then the execution runs and can be followed through moto's Step Functions endpoint
        sfn = session.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{moto_port}")
        for _ in range(100):
            status = sfn.describe_execution(executionArn=started["executionArn"])["status"]
            if status != "RUNNING":
                break
            time.sleep(0.1)
        assert status == "SUCCEEDED"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            remaining, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # leave nothing running behind a failed test
            process.communicate()
            raise
    assert process.returncode == 0, remaining
    assert "stopped" in remaining
    assert (tmp_path / "personalize.sqlite").exists()
