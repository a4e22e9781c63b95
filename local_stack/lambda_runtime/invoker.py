"""Calls a function's handler as Lambda would: JSON in, JSON out, a fresh context, Lambda's error payload."""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import traceback
import uuid
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, TextIO

from local_stack.lambda_runtime.context import LambdaContext
from local_stack.resources import DEFAULT_REGION, FUNCTION_PREFIX, function_arn, function_name

#: Function name -> dotted ``"module:callable"`` strings, each called with ``functions.<name>.app`` once it is
#: imported in a sandbox of that function (a test plants a fault or swaps an adapter through them).
SandboxHooks = Mapping[str, Sequence[str]]


def call_sandbox_hooks(function: str, module: ModuleType, hooks: SandboxHooks | None) -> None:
    """Call each hook of ``function`` (``"package.module:callable"``) with the function's app module."""
    for hook in (hooks or {}).get(function, ()):
        module_name, _, attribute = hook.partition(":")
        if not module_name or not attribute:
            raise ValueError(f"a sandbox hook is 'module:callable', got {hook!r}")
        getattr(importlib.import_module(module_name), attribute)(module)


class InvocationError(Exception):
    """A handler raised: carries Lambda's error payload (``errorMessage``, ``errorType``, ``stackTrace``)."""

    def __init__(self, payload: dict[str, Any], cause: BaseException | None = None) -> None:
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = payload
        self.cause = cause


def error_payload(error: BaseException, request_id: str) -> dict[str, Any]:
    """Lambda's Python runtime error shape for an unhandled exception."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


class Invoker:
    """Calls ``functions.<name>.app.lambda_handler`` as Lambda would: JSON in, JSON out, a fresh context."""

    def __init__(
        self,
        modules: Mapping[str, ModuleType],
        region: str = DEFAULT_REGION,
        log: TextIO | None = None,
    ) -> None:
        self.modules = modules
        self.region = region
        # What the functions print (Powertools' log lines and EMF metrics) goes here, as Lambda sends a
        # function's stdout to CloudWatch Logs; None leaves it on this process's stdout.
        self.log = log
        # The functions share one process (and Powertools' logger and metrics): one invoke at a time keeps
        # each invoke's correlation id and metrics its own, as separate Lambda sandboxes would.
        self._lock = threading.Lock()

    def resolve(self, name_or_arn: str) -> str:
        """The folder name for a FunctionName (name, ARN, or either with a qualifier); KeyError if unknown."""
        name = name_or_arn
        if name.startswith("arn:"):
            name = name.split(":function:", 1)[-1]
        name = name.split(":", 1)[0]
        folder = name.removeprefix(FUNCTION_PREFIX).replace("-", "_")
        if not name.startswith(FUNCTION_PREFIX) or folder not in self.modules:
            raise KeyError(name_or_arn)
        return folder

    def invoke(self, function: str, payload: Any) -> tuple[Any, bool]:
        """Run the handler; return (result, False), or (Lambda's error payload, True) when it raised."""
        module = self.modules[function]
        request_id = str(uuid.uuid4())
        context = LambdaContext(
            function_name=function_name(function),
            invoked_function_arn=function_arn(function, self.region),
            aws_request_id=request_id,
        )
        try:
            with (
                self._lock,
                contextlib.redirect_stdout(self.log) if self.log else contextlib.nullcontext(),
            ):
                result = module.lambda_handler(payload, context)
        except Exception as error:  # noqa: BLE001 - every exception becomes Lambda's error payload
            return error_payload(error, request_id), True
        try:
            json.dumps(result)
        except (TypeError, ValueError) as error:
            return {
                "errorMessage": f"Unable to marshal response: {error}",
                "errorType": "Runtime.MarshalError",
                "requestId": request_id,
                "stackTrace": [],
            }, True
        return result, False
