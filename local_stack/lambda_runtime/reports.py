"""What Lambda itself says about an invocation: its START, END and REPORT log lines, its error payloads for
a timeout, a crashed runtime and a throttle, and the record the local runtimes keep of each invocation.

Lambda writes three lines per invocation to the function's log stream, whatever the code logs
(https://docs.aws.amazon.com/lambda/latest/operatorguide/log-structure.html: "there are three minimal log
statements generated per invocation (START, END and REPORT)")::

    START RequestId: 8f507cfc-... Version: $LATEST
    END RequestId: 8f507cfc-...
    REPORT RequestId: 8f507cfc-...\tDuration: 2.52 ms\tBilled Duration: 3 ms\tMemory Size: 256 MB\t...

Everything a function prints between its START and REPORT belongs to that invocation; the first REPORT of
an execution environment adds ``Init Duration`` (its cold start). Duration is billed "rounded up to the
nearest 1 ms" (https://aws.amazon.com/lambda/pricing/).
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

START = "START RequestId: "
END = "END RequestId: "
REPORT = "REPORT RequestId: "


@dataclass
class InvocationReport:
    """One invocation as the runtime saw it; what its REPORT line says, and the CPU it took."""

    function: str
    request_id: str
    duration_ms: float
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None = None  # the sandbox's cold start, on its first invocation
    cpu_ms: float = 0.0  # CPU of the sandbox (every thread) during the invocation
    status: str = "success"  # success, error (the function raised), timeout, crash
    sdk_retry_waits: list[float] = field(default_factory=list)
    sandbox: int | None = None  # the process id of the sandbox that ran it (process runtime)

    @property
    def billed_ms(self) -> int:
        return max(1, math.ceil(self.duration_ms))


def start_line(request_id: str) -> str:
    return f"{START}{request_id} Version: $LATEST"


def end_line(request_id: str) -> str:
    return f"{END}{request_id}"


def report_line(report: InvocationReport) -> str:
    """The REPORT line, tab-separated as Lambda writes it; ``Status`` only for an invocation that did not
    end by returning or raising (Lambda adds ``Status: timeout`` or ``Status: error`` then)."""
    fields = [
        f"{REPORT}{report.request_id}",
        f"Duration: {report.duration_ms:.2f} ms",
        f"Billed Duration: {report.billed_ms} ms",
        f"Memory Size: {report.memory_mb} MB",
        f"Max Memory Used: {report.max_memory_mb} MB",
    ]
    if report.init_ms is not None:
        fields.append(f"Init Duration: {report.init_ms:.2f} ms")
    if report.status in ("timeout", "crash"):
        fields.append(f"Status: {'timeout' if report.status == 'timeout' else 'error'}")
    return "\t".join(fields)


def timed_out_message(request_id: str, timeout_seconds: float) -> str:
    return f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds"


def timeout_log_line(request_id: str, timeout_seconds: float) -> str:
    """The line Lambda logs for an invocation it stopped at the function's timeout."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"{stamp} {request_id} Task timed out after {timeout_seconds:.2f} seconds"


def timed_out_payload(request_id: str, timeout_seconds: float) -> dict[str, Any]:
    """What the Invoke API answers (with ``X-Amz-Function-Error: Unhandled``) for an invocation stopped at
    its timeout. Step Functions: "In newer runtimes, timeouts are reported as ``Sandbox.Timedout`` in the
    error output" (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)."""
    return {"errorType": "Sandbox.Timedout", "errorMessage": timed_out_message(request_id, timeout_seconds)}


def init_timed_out_payload(seconds: float) -> dict[str, Any]:
    """The answer when a sandbox's Init phase ran past its limit ("Function times out during Init phase
    (Sandbox.Timedout)", https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html)."""
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"Init phase timed out after {seconds:.2f} seconds",
    }


def exited_payload(request_id: str, returncode: int | None) -> dict[str, Any]:
    """What the Invoke API answers when the runtime process died during an invocation (a crash, a kill)."""
    how = (
        f"signal: {-returncode}" if returncode is not None and returncode < 0 else f"exit status {returncode}"
    )
    return {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
    }


def error_payload(error: BaseException, request_id: str) -> dict[str, Any]:
    """Lambda's Python runtime error shape for an unhandled exception."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def marshal_error_payload(error: BaseException, request_id: str) -> dict[str, Any]:
    """What the Python runtime answers for a result it cannot encode as JSON."""
    return {
        "errorMessage": f"Unable to marshal response: {error}",
        "errorType": "Runtime.MarshalError",
        "requestId": request_id,
        "stackTrace": [],
    }


#: The reason Lambda gives when a function's own concurrency is used up (Invoke API, TooManyRequestsException:
#: ``ReservedFunctionConcurrentInvocationLimitExceeded``, https://docs.aws.amazon.com/lambda/latest/api/
#: API_Invoke.html).
THROTTLE_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"


def throttled_body() -> dict[str, Any]:
    """The body of the Invoke API's HTTP 429 ``TooManyRequestsException``."""
    return {"Reason": THROTTLE_REASON, "Type": "User", "message": "Rate Exceeded."}
