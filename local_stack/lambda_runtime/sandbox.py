"""One execution environment, as Lambda runs it: a process that imports one function once (its cold
start), keeps its module globals, and runs its invocations one at a time.

``python -m local_stack.lambda_runtime.sandbox FD``: ``FD`` is this end of a socket pair to the parent
(:mod:`local_stack.lambda_runtime.sandboxes`), over which it receives a :data:`Spec` first, then one
``(request id, payload JSON)`` per invocation (None or a closed socket ends the process), and answers
``("ready", init ms, CPU s)`` once imported and ``("done", result JSON, failed, report, CPU s)`` per
invocation. Its environment is the function's, given by the parent. What the function prints (standard
output and error) is the log stream: Lambda's START, END and REPORT lines delimit each invocation in it,
and the root logger writes records at WARNING and above in the Python runtime's format
(``[LEVEL]\\ttimestamp\\trequest id\\tmessage``,
https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html).
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
import resource
import sys
import time
import traceback
from dataclasses import asdict
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from local_stack.lambda_runtime.context import LambdaContext
from local_stack.lambda_runtime.reports import (
    InvocationReport,
    end_line,
    error_payload,
    marshal_error_payload,
    report_line,
    start_line,
)

#: What the parent sends first: function, module, hooks, function_name, function_arn, timeout_seconds,
#: memory_mb, log_stream_name, skip_retry_waits, spawned_at (the parent's time.time() at spawn).
Spec = dict[str, Any]


class _RequestId(logging.Filter):
    """Gives every record the request id of the invocation running now, as the Lambda runtime does."""

    current = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _RequestId.current
        return True


def _lambda_root_logger() -> None:
    """The root logger as the Python runtime sets it up: WARNING, one line per record on standard output."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestId())
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def _record_sdk_retry_waits(waits: list[float]) -> None:
    """``skip_retry_waits`` in a sandbox: botocore's retry backoff is recorded, not slept (the row
    ``botocore.endpoint.time`` of :data:`local_stack.stepfunctions.moto_patches.PATCHES`)."""
    import botocore.endpoint

    from local_stack.stepfunctions.moto_patches import RecordingTime

    setattr(botocore.endpoint, "time", RecordingTime(waits.append))  # noqa: B010 - a module's global


def _max_memory_mb() -> int:
    """Peak resident memory of this process image: ``VmHWM`` (Linux keeps ``ru_maxrss`` across the exec
    that started it, so that would count the parent's pages), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)


def _flush() -> None:
    sys.stdout.flush()
    sys.stderr.flush()


def _run(module: ModuleType, request_id: str, body: str, context: LambdaContext) -> tuple[str, bool]:
    """(result JSON, False), or (Lambda's error payload as JSON, True)."""
    try:
        result = module.lambda_handler(json.loads(body), context)
    except Exception as error:  # noqa: BLE001 - every exception becomes Lambda's error payload
        payload = error_payload(error, request_id)
        # the runtime logs the unhandled error, one record (its lines joined by \r, as Lambda's does)
        trace = "".join(traceback.format_exception(error)).rstrip("\n").replace("\n", "\r")
        print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}\r{trace}")
        return json.dumps(payload), True
    try:
        return json.dumps(result), False
    except (TypeError, ValueError) as error:
        return json.dumps(marshal_error_payload(error, request_id)), True


def invoke(
    module: ModuleType, spec: Spec, request_id: str, body: str, init_ms: float | None, waits: list[float]
) -> tuple[Any, ...]:
    """One invocation between its START and REPORT lines; the answer for the parent."""
    print(start_line(request_id), flush=True)
    _RequestId.current = request_id
    waits.clear()
    context = LambdaContext(
        function_name=spec["function_name"],
        invoked_function_arn=spec["function_arn"],
        aws_request_id=request_id,
        memory_limit_in_mb=spec["memory_mb"],
        log_stream_name=spec["log_stream_name"],
        timeout_ms=int(spec["timeout_seconds"] * 1000),
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    text, failed = _run(module, request_id, body, context)
    duration_ms = (time.perf_counter() - started) * 1000
    report = InvocationReport(
        function=spec["function"],
        request_id=request_id,
        duration_ms=duration_ms,
        memory_mb=spec["memory_mb"],
        max_memory_mb=_max_memory_mb(),
        init_ms=init_ms,
        cpu_ms=(time.process_time() - cpu_started) * 1000,
        status="error" if failed else "success",
        sdk_retry_waits=list(waits),
    )
    _flush()
    print(end_line(request_id))
    print(report_line(report), flush=True)
    _RequestId.current = ""
    return ("done", text, failed, asdict(report), time.process_time())


def _initialise(spec: Spec) -> ModuleType:
    module = importlib.import_module(spec["module"])
    for hook in spec["hooks"]:
        pkgutil.resolve_name(hook)(module)
    return module


def serve(connection: Connection) -> int:
    """Import the function, say ready, then answer invocations until told to stop."""
    spec: Spec = connection.recv()
    _lambda_root_logger()
    waits: list[float] = []
    if spec["skip_retry_waits"]:
        _record_sdk_retry_waits(waits)
    try:
        module = _initialise(spec)
    except Exception as error:  # noqa: BLE001 - an init error is the first invocation's answer
        payload = error_payload(error, "")
        print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", flush=True)
        connection.send(("init_failed", payload))
        return 1
    init_ms: float | None = (time.time() - spec["spawned_at"]) * 1000
    _flush()
    connection.send(("ready", init_ms, time.process_time()))
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return 0
        if message is None:
            return 0
        request_id, body = message
        connection.send(invoke(module, spec, request_id, body, init_ms, waits))
        init_ms = None


def main(argv: list[str]) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with Connection(int(argv[1])) as connection:
        return serve(connection)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
