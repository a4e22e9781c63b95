"""The process runtime behind the Invoke API: a pool of sandboxes per function (see
:mod:`local_stack.lambda_runtime.sandboxes` for what a sandbox is and does).

A sandbox's environment is the function's settings, given explicitly, with what Lambda sets itself
(``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, ``AWS_LAMBDA_FUNCTION_VERSION``,
``AWS_LAMBDA_LOG_GROUP_NAME``, ``AWS_LAMBDA_LOG_STREAM_NAME``, https://docs.aws.amazon.com/lambda/latest/dg/
configuration-envvars.html#configuration-envvars-runtime), fake credentials, and no AWS configuration file:
the AWS services it reaches are the ones its ``AWS_ENDPOINT_URL*`` variables name.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from local_stack.lambda_runtime.configuration import FunctionConfig
from local_stack.lambda_runtime.function_log import FunctionLog
from local_stack.lambda_runtime.invoker import Listener, Listeners, TooManyRequests, resolve_function
from local_stack.lambda_runtime.reports import InvocationReport
from local_stack.lambda_runtime.sandboxes import (
    INIT_SECONDS,
    OPEN_INIT_SECONDS,
    ROOT,
    InitFailed,
    Sandbox,
    _log_stream_name,
)
from local_stack.resources import DEFAULT_REGION, function_arn, function_name

#: What a sandbox keeps of this process's environment (besides the function's settings).
_KEPT = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "HOME", "SYSTEMROOT")
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def sandbox_environment(settings: Mapping[str, str], config: FunctionConfig) -> dict[str, str]:
    """The environment of a sandbox of ``config``'s function: ``settings`` (an empty value unsets one)."""
    env = {key: os.environ[key] for key in _KEPT if key in os.environ}
    env.update({key: os.environ.get(key) or "testing" for key in _CREDENTIALS[:2]})
    if os.environ.get(_CREDENTIALS[2]):
        env[_CREDENTIALS[2]] = os.environ[_CREDENTIALS[2]]
    name = function_name(config.function)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "functions" / "shared")]),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        }
    )
    env.update(settings)
    return {key: value for key, value in env.items() if value != ""}


class FunctionPool:
    """The sandboxes of one function: idle ones are reused (the most recent first), a busy one is never
    shared, and at most ``config.concurrency`` invocations are in flight."""

    def __init__(self, config: FunctionConfig, make: Callable[[], Sandbox]) -> None:
        self.config = config
        self._make = make
        self._lock = threading.Lock()
        self._idle: list[Sandbox] = []
        self.started: list[Sandbox] = []  # every sandbox ever started, for CPU and for close
        self.in_flight = 0

    def start(self) -> Sandbox:
        sandbox = self._make()
        with self._lock:
            self.started.append(sandbox)
        return sandbox

    def add_idle(self, sandbox: Sandbox) -> None:
        with self._lock:
            self._idle.append(sandbox)

    def _take(self) -> Sandbox | None:
        with self._lock:
            if self.in_flight >= self.config.concurrency:
                raise TooManyRequests(self.config.function)
            self.in_flight += 1
            return self._idle.pop() if self._idle else None

    def invoke(self, request_id: str, body: str) -> tuple[Any, bool, InvocationReport | None]:
        """(result JSON or error payload, failed, report); raises TooManyRequests past the concurrency."""
        sandbox = self._take()
        try:
            if sandbox is None:
                sandbox = self.start()
                sandbox.wait_ready(INIT_SECONDS + self.config.timeout_seconds)
            return sandbox.invoke(request_id, body)
        except InitFailed as failure:
            sandbox = None
            return failure.payload, True, None
        finally:
            with self._lock:
                self.in_flight -= 1
                if sandbox is not None and sandbox.alive:
                    self._idle.append(sandbox)

    def live(self) -> list[Sandbox]:
        with self._lock:
            return [sandbox for sandbox in self.started if sandbox.alive]

    def close(self) -> None:
        with self._lock:
            started, self._idle = list(self.started), []
        for sandbox in started:
            sandbox.stop()


class ProcessRuntime:
    """Every function in sandbox processes; :meth:`open` starts ``warm`` sandboxes of each (cold starts
    at once, in parallel) so that a function that cannot import fails the open, as an import would."""

    def __init__(
        self,
        configs: Mapping[str, FunctionConfig],
        settings: Mapping[str, str],
        *,
        region: str = DEFAULT_REGION,
        log: TextIO | None = None,
        hooks: Mapping[str, Sequence[str]] | None = None,
        skip_retry_waits: bool = False,
        record_sdk_retry_wait: Callable[[float], None] | None = None,
        warm: int = 1,
    ) -> None:
        self.configs = dict(configs)
        self.settings = dict(settings)
        self.region = region
        self.hooks = {name: list(values) for name, values in (hooks or {}).items()}
        self.skip_retry_waits = skip_retry_waits
        self._record_sdk_retry_wait = record_sdk_retry_wait
        self.warm = warm
        self._log = FunctionLog(log)
        self._listeners = Listeners()
        self.pools: dict[str, FunctionPool] = {
            name: FunctionPool(config, self._maker(config)) for name, config in self.configs.items()
        }

    def _maker(self, config: FunctionConfig) -> Callable[[], Sandbox]:
        env = sandbox_environment(self.settings, config)

        def make() -> Sandbox:
            stream = _log_stream_name()
            spec = {
                "function": config.function,
                "module": config.module,
                "hooks": self.hooks.get(config.function, []),
                "function_name": function_name(config.function),
                "function_arn": function_arn(config.function, self.region),
                "timeout_seconds": config.timeout_seconds,
                "memory_mb": config.memory_mb,
                "log_stream_name": stream,
                "skip_retry_waits": self.skip_retry_waits,
            }
            return Sandbox(config, spec, {**env, "AWS_LAMBDA_LOG_STREAM_NAME": stream}, self._log)

        return make

    def open(self) -> ProcessRuntime:
        started = [(pool, pool.start()) for pool in self.pools.values() for _ in range(self.warm)]
        failures = []
        for pool, sandbox in started:
            try:
                sandbox.wait_ready(OPEN_INIT_SECONDS)
            except InitFailed as failure:
                failures.append(f"{pool.config.function}: {failure}")
            else:
                pool.add_idle(sandbox)
        if failures:
            self.close()
            raise InitFailed({"errorType": "InitFailed", "errorMessage": "; ".join(failures)})
        return self

    def resolve(self, name_or_arn: str) -> str:
        return resolve_function(name_or_arn, self.pools)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)

    def invoke(self, function: str, payload: Any, request_id: str | None = None) -> tuple[Any, bool]:
        """Run one invocation in a sandbox of ``function``: (result, False) or (Lambda's error payload,
        True); raises TooManyRequests past the function's concurrency."""
        pool = self.pools[function]
        answer, failed, report = pool.invoke(request_id or str(uuid.uuid4()), json.dumps(payload))
        result = json.loads(answer) if isinstance(answer, str) else answer
        if report is not None:
            if self._record_sdk_retry_wait is not None:
                for wait in report.sdk_retry_waits:
                    self._record_sdk_retry_wait(wait)
            self._listeners.tell(report)
        return result, failed

    def sandboxes(self, function: str) -> list[int]:
        """Process ids of the live sandboxes of ``function``."""
        return [sandbox.pid for sandbox in self.pools[function].live()]

    def cpu_seconds(self) -> float:
        """CPU used by every sandbox started so far (live ones read from /proc, ended ones as last seen)."""
        return sum(sandbox.cpu_seconds() for pool in self.pools.values() for sandbox in list(pool.started))

    def close(self) -> None:
        for pool in self.pools.values():
            for sandbox in pool.live():  # every one first, so that they end at once
                sandbox.ask_to_stop()
        for pool in self.pools.values():
            pool.close()
