"""Calls a function's handler as Lambda would: JSON in, JSON out, a fresh context, Lambda's error payload.

Two runtimes do it behind one interface (:class:`Runtime`): :class:`Invoker` here runs the handlers in this
process, one invocation at a time, so that tests can swap a module's adapter for a fake; the process
runtime (:mod:`local_stack.lambda_runtime.sandboxes`) runs each function in sandbox processes as Lambda's
execution environments do.
"""

from __future__ import annotations

import json
import resource
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Protocol, TextIO

from local_stack.lambda_runtime.configuration import FunctionConfig
from local_stack.lambda_runtime.context import LambdaContext
from local_stack.lambda_runtime.function_log import FunctionLog
from local_stack.lambda_runtime.reports import (
    InvocationReport,
    end_line,
    error_payload,
    marshal_error_payload,
    report_line,
    start_line,
    throttled_body,
)
from local_stack.lambda_runtime.stdout import routed_stdout
from local_stack.resources import DEFAULT_REGION, FUNCTION_PREFIX, function_arn, function_name

__all__ = ["InvocationError", "Invoker", "Runtime", "TooManyRequests", "error_payload", "resolve_function"]

#: Called with the report of every invocation once it has ended.
Listener = Callable[[InvocationReport], None]


class InvocationError(Exception):
    """A handler raised: carries Lambda's error payload (``errorMessage``, ``errorType``, ``stackTrace``)."""

    def __init__(self, payload: dict[str, Any], cause: BaseException | None = None) -> None:
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = payload
        self.cause = cause


class TooManyRequests(InvocationError):
    """The function's concurrency is used up: the Invoke API answers HTTP 429 ``TooManyRequestsException``
    (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), which Step Functions reports as
    ``Lambda.TooManyRequestsException``."""

    def __init__(self, function: str) -> None:
        body = throttled_body()
        super().__init__({"errorType": "TooManyRequestsException", "errorMessage": body["message"], **body})
        self.function = function


class Runtime(Protocol):
    """What the Invoke API server and the engine need of a runtime."""

    def resolve(self, name_or_arn: str) -> str: ...

    def invoke(self, function: str, payload: Any, request_id: str | None = None) -> tuple[Any, bool]: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]: ...

    def cpu_seconds(self) -> float: ...

    def close(self) -> None: ...


def resolve_function(name_or_arn: str, known: Mapping[str, object]) -> str:
    """The folder name for a FunctionName (name, ARN, or either with a qualifier); KeyError if unknown."""
    name = name_or_arn
    if name.startswith("arn:"):
        name = name.split(":function:", 1)[-1]
    name = name.split(":", 1)[0]
    folder = name.removeprefix(FUNCTION_PREFIX).replace("-", "_")
    if not name.startswith(FUNCTION_PREFIX) or folder not in known:
        raise KeyError(name_or_arn)
    return folder


class Listeners:
    """The listeners of a runtime's invocation reports."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def tell(self, report: InvocationReport) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(report)


def call_handler(handler: Callable[[Any, Any], Any], payload: Any, context: Any) -> tuple[Any, bool]:
    """(result, False), or (Lambda's error payload, True) when the handler raised or its result is not
    JSON; what both runtimes do around a handler."""
    try:
        result = handler(payload, context)
    except Exception as error:  # noqa: BLE001 - every exception becomes Lambda's error payload
        return error_payload(error, context.aws_request_id), True
    try:
        json.dumps(result)
    except (TypeError, ValueError) as error:
        return marshal_error_payload(error, context.aws_request_id), True
    return result, False


def _call(module: ModuleType, payload: Any, context: Any, log: TextIO | None) -> tuple[Any, bool]:
    with routed_stdout(log):
        return call_handler(module.lambda_handler, payload, context)


def _max_rss_mb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)


class Invoker:
    """The in-process runtime: calls ``<module>.lambda_handler`` of each function in this process.

    The functions share one process (and Powertools' logger and metrics): one invoke at a time keeps each
    invoke's correlation id and metrics its own. There is no sandbox to stop, so a timeout is not enforced;
    the context counts down from the function's timeout as Lambda's does. What a handler prints goes to
    ``log`` (only that thread's prints: see :mod:`local_stack.lambda_runtime.stdout`), between Lambda's
    START and REPORT lines.
    """

    def __init__(
        self,
        modules: Mapping[str, ModuleType],
        region: str = DEFAULT_REGION,
        log: TextIO | None = None,
        configs: Mapping[str, FunctionConfig] | None = None,
    ) -> None:
        self.modules = modules
        self.region = region
        self.log = log
        self.configs = dict(configs or {})
        self._function_log = FunctionLog(log)
        self._lock = threading.Lock()
        self._listeners = Listeners()

    def resolve(self, name_or_arn: str) -> str:
        return resolve_function(name_or_arn, self.modules)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)

    def cpu_seconds(self) -> float:
        """CPU of sandboxes outside this process: none."""
        return 0.0

    def close(self) -> None:
        return

    def _context(self, function: str, request_id: str) -> LambdaContext:
        config = self.configs.get(function)
        extra: dict[str, Any] = {}
        if config is not None:
            extra = {"timeout_ms": int(config.timeout_seconds * 1000), "memory_limit_in_mb": config.memory_mb}
        return LambdaContext(
            function_name=function_name(function),
            invoked_function_arn=function_arn(function, self.region),
            aws_request_id=request_id,
            **extra,
        )

    def invoke(self, function: str, payload: Any, request_id: str | None = None) -> tuple[Any, bool]:
        """Run the handler; return (result, False), or (Lambda's error payload, True) when it raised."""
        module = self.modules[function]
        request_id = request_id or str(uuid.uuid4())
        context = self._context(function, request_id)
        with self._lock:
            started, cpu_started = time.perf_counter(), time.thread_time()
            if self.log is not None:
                self._function_log.write_lines([start_line(request_id)])
            answer, failed = _call(module, payload, context, self.log)
            report = InvocationReport(
                function=function,
                request_id=request_id,
                duration_ms=(time.perf_counter() - started) * 1000,
                memory_mb=context.memory_limit_in_mb,
                max_memory_mb=_max_rss_mb(),
                cpu_ms=(time.thread_time() - cpu_started) * 1000,
                status="error" if failed else "success",
            )
            if self.log is not None:
                self._function_log.write_lines([end_line(request_id), report_line(report)])
        self._listeners.tell(report)
        return answer, failed
