"""The process runtime: each function in sandbox processes that play Lambda's execution environments.

* An invocation takes an idle sandbox of its function (warm), or starts a new one (a cold start: a fresh
  interpreter imports the function, runs the sandbox hooks, keeps its globals). Concurrent invocations of
  one function run in parallel, each in its own sandbox, up to the function's concurrency; past it the
  invocation is refused with :class:`~local_stack.lambda_runtime.invoker.TooManyRequests` (HTTP 429).
* An invocation past the function's timeout is stopped: its sandbox is killed (the next invocation starts
  a new one) and the answer is Lambda's ``Sandbox.Timedout`` error. A sandbox that dies mid-invocation
  answers ``Runtime.ExitError``.
* Sandboxes are started with ``subprocess`` (fork and exec at once, so this threaded process is never
  forked without exec) and the function's environment given explicitly; what they print is their log
  stream, pumped line by line into the function log, each invocation's lines (START to REPORT) together.

:mod:`local_stack.lambda_runtime.sandbox` is the other side.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from local_stack.lambda_runtime.configuration import FunctionConfig
from local_stack.lambda_runtime.function_log import FunctionLog
from local_stack.lambda_runtime.reports import (
    REPORT,
    START,
    InvocationReport,
    end_line,
    exited_payload,
    init_timed_out_payload,
    report_line,
    timed_out_payload,
    timeout_log_line,
)

ROOT = Path(__file__).resolve().parents[2]
#: Lambda limits the Init phase to 10 s, then retries it within the invocation's own timeout
#: (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html): a cold start may take
#: up to this plus the function's timeout.
INIT_SECONDS = 10.0
#: Sandboxes started when the engine opens may take longer: nothing waits on them yet, and six interpreters
#: start at once.
OPEN_INIT_SECONDS = 120.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class InitFailed(Exception):
    """A sandbox could not import its function: carries the error payload of its first invocation."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = payload


def _log_stream_name() -> str:
    """A log stream name as Lambda gives each execution environment: ``2024/01/31/[$LATEST]<32 hex>``."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


def proc_cpu_seconds(pid: int) -> float | None:
    """User and system CPU of process ``pid`` from /proc (None where there is no /proc or no such pid)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class Sandbox:
    """One sandbox process of one function, and the thread that pumps its log stream."""

    def __init__(
        self, config: FunctionConfig, spec: Mapping[str, Any], env: Mapping[str, str], log: FunctionLog
    ):
        self.config = config
        self.log = log
        self.init_ms: float | None = None
        self._reported_cpu = 0.0
        ours, theirs = socket.socketpair()
        spawned_at = time.time()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
                [sys.executable, "-m", "local_stack.lambda_runtime.sandbox", str(theirs.fileno())],
                env=dict(env),
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a Ctrl-C of the terminal stops the parent, which stops these
            )
        finally:
            theirs.close()
        self.connection = Connection(ours.detach())
        self.connection.send({**spec, "spawned_at": spawned_at})
        self._block: list[str] | None = None
        self._pump = threading.Thread(target=self._pump_log, name=f"log-{config.function}", daemon=True)
        self._pump.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    # --- log stream ------------------------------------------------------------------------------------
    def _pump_log(self) -> None:
        """Each line to the function log; an invocation's lines (START to REPORT) at once, when it ends."""
        assert self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(START):
                if self._block:
                    self.log.write_lines(self._block)
                self._block = [line]
            elif self._block is not None:
                self._block.append(line)
                if line.startswith(REPORT):
                    self.log.write_lines(self._block)
                    self._block = None
            else:
                self.log.write_lines([line])

    def _finish_log(self, lines: Sequence[str]) -> None:
        """Once the process has gone: what it printed of an unfinished invocation, then ``lines``."""
        self._pump.join(timeout=5)
        block, self._block = self._block or [], None
        self.log.write_lines([*block, *lines])

    # --- lifecycle -------------------------------------------------------------------------------------
    def wait_ready(self, limit: float) -> float:
        """Wait for the cold start to end; its duration (ms). Raises InitFailed (the sandbox is gone)."""
        if not self.connection.poll(limit):
            self.kill()
            raise InitFailed(init_timed_out_payload(limit))
        try:
            message = self.connection.recv()
        except (EOFError, OSError):
            message = ("init_failed", exited_payload("", self.process.wait()))
        if message[0] != "ready":
            self.kill()
            raise InitFailed(message[1])
        self.init_ms, self._reported_cpu = float(message[1]), float(message[2])
        return self.init_ms

    def invoke(self, request_id: str, body: str) -> tuple[str | dict[str, Any], bool, InvocationReport]:
        """Run one invocation: (result JSON, or an error payload; failed; report)."""
        started = time.perf_counter()
        self.connection.send((request_id, body))
        timeout = self.config.timeout_seconds
        if not self.connection.poll(timeout):
            return self._timed_out(request_id, started)
        try:
            _, text, failed, fields, cpu = self.connection.recv()
        except (EOFError, OSError):
            return self._crashed(request_id, started)
        self._reported_cpu = float(cpu)
        report = InvocationReport(**fields)
        report.sandbox = self.pid
        return text, bool(failed), report

    def _lost(self, request_id: str, started: float, status: str) -> InvocationReport:
        return InvocationReport(
            function=self.config.function,
            request_id=request_id,
            duration_ms=(time.perf_counter() - started) * 1000,
            memory_mb=self.config.memory_mb,
            max_memory_mb=0,
            status=status,
            sandbox=self.pid,
        )

    def _timed_out(self, request_id: str, started: float) -> tuple[dict[str, Any], bool, InvocationReport]:
        """Stop the sandbox, as Lambda stops an invocation at its timeout; Lambda's answer and lines."""
        self.kill()
        report = self._lost(request_id, started, "timeout")
        timeout = self.config.timeout_seconds
        self._finish_log([timeout_log_line(request_id, timeout), end_line(request_id), report_line(report)])
        return timed_out_payload(request_id, timeout), True, report

    def _crashed(self, request_id: str, started: float) -> tuple[dict[str, Any], bool, InvocationReport]:
        returncode = self.process.wait()
        report = self._lost(request_id, started, "crash")
        self._finish_log([end_line(request_id), report_line(report)])
        return exited_payload(request_id, returncode), True, report

    def cpu_seconds(self) -> float:
        """CPU the process has used: from /proc while it runs, else the last figure it reported."""
        measured = proc_cpu_seconds(self.pid) if self.alive else None
        if measured is not None:
            self._reported_cpu = max(self._reported_cpu, measured)
        return self._reported_cpu

    def kill(self) -> None:
        self.cpu_seconds()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        self.connection.close()

    def ask_to_stop(self) -> None:
        """Tell the process to end once it is idle (:meth:`stop` waits for it)."""
        self.cpu_seconds()
        with contextlib.suppress(OSError):
            self.connection.send(None)

    def stop(self) -> None:
        """Ask the process to end; kill it if it does not within a second."""
        self.ask_to_stop()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
        self.connection.close()
        self._finish_log([])
