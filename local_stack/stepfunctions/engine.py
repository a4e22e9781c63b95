"""The workflow run locally: moto's Step Functions interpreter calling the real Lambda handlers.

One reusable piece for the state machine tests and the local stack::

    with LocalEngine(skip_retry_waits=True) as engine:
        engine.functions["track"].personalize = FakeEvents()   # swap an adapter for a fake
        arn = engine.start(segment_message)               # or engine.deliver(message), through entry
        description = engine.wait(arn, timeout=20)        # status, parsed input and output
        events = engine.history(arn)                      # GetExecutionHistory events
        letters = engine.dead_letters()                   # parsed bodies of the dead-letter queue

How it fits together:

* ``moto.mock_aws`` with ``{"stepfunctions": {"execute_state_machine": True}}`` runs the committed ASL file
  (``state_machines/segment_personalize.asl.json``), its placeholders substituted like the SAM template does,
  and serves the SQS dead-letter queue.
* Lambda tasks make ``lambda:Invoke`` calls through boto3, which honours ``AWS_ENDPOINT_URL_LAMBDA``. That
  points at :class:`~local_stack.lambda_runtime.server.InvokeServer`, the Lambda Invoke API on 127.0.0.1.
  moto's botocore stubber only answers URLs of AWS services, so these calls reach the server untouched. It
  calls ``functions.<name>.app.lambda_handler`` in one of two runtimes
  (:mod:`local_stack.lambda_runtime.runtimes`): ``runtime="inprocess"`` (the default) in this process, one
  invocation at a time, modules in :attr:`LocalEngine.functions` for tests to swap adapters in;
  ``runtime="process"`` in sandbox processes as Lambda runs them: concurrent, each function's timeout
  (``iac/template.yaml``, or ``function_timeouts``) enforced, ``concurrency`` invocations per function at
  most. An exception becomes Lambda's error payload, so Step Functions sees ``Error`` = the exception's
  class name; a timeout ``Sandbox.Timedout``; a throttle ``Lambda.TooManyRequestsException``.
* The functions' settings are environment variables, set before their modules are (re)imported. In process
  mode the sandboxes reach Step Functions through moto's server on loopback, which shares this process's
  backends (``AWS_ENDPOINT_URL``), and DynamoDB and Secrets Manager through a moto of their own in another
  process (:mod:`local_stack.lambda_runtime.aws_services`), where ``prepare`` creates them too.
* ``skip_retry_waits`` records retry waits (:attr:`LocalEngine.retry_waits`, ``sdk_retry_waits``) instead
  of sleeping them, every retry still made; ``fast`` removes moto's overheads; each execution's clock
  counts what is recorded (:mod:`.execution_clock`). The moto internals: :mod:`.moto_patches` (moto pinned).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, MutableSet, Sequence
from typing import Any, TextIO, cast

from local_stack.environment import SavedEnvironment
from local_stack.lambda_runtime import stdout
from local_stack.lambda_runtime.aws_services import MotoProcess
from local_stack.lambda_runtime.configuration import default_modules, function_configs, template_limits
from local_stack.lambda_runtime.direct_client import DirectLambdaClient
from local_stack.lambda_runtime.invoker import InvocationError, Invoker, Runtime
from local_stack.lambda_runtime.process_runtime import ProcessRuntime
from local_stack.lambda_runtime.runtimes import RUNTIMES, SandboxedModules, checked_hooks, import_functions
from local_stack.lambda_runtime.server import InvokeServer
from local_stack.resources import (
    ACCOUNT_ID,
    DEAD_LETTER_QUEUE_NAME,
    DEFAULT_REGION,
    STATE_MACHINE_NAME,
    default_environment,
    function_arn,
)
from local_stack.stepfunctions.execution_clock import ExecutionClocks
from local_stack.stepfunctions.forgetting import drop_execution
from local_stack.stepfunctions.moto_patches import MotoPatches, queued_message_bodies
from segment_personalize import dead_letters
from state_machines import ASL_PATH, DEAD_LETTER_QUEUE_PLACEHOLDER, FUNCTION_PLACEHOLDERS, substitute

#: Variables removed while the engine runs, so moto (not some other endpoint) answers Step Functions and SQS.
_UNSET_WHILE_RUNNING = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE")

#: Loggers quieted while the engine runs (quiet_moto), and the level they get: moto logs every failed
#: execution at ERROR from the first (the history already says it all); moto's server logs every request
#: through werkzeug's (which adds a handler of its own when none is set).
_QUIET_LOGGERS = {
    "moto.stepfunctions.parser.asl.component.eval_component": logging.CRITICAL,
    "werkzeug": logging.ERROR,
}

#: How often a fast :meth:`LocalEngine.wait` looks at an execution that has not been reported ended.
_ENDED_RECHECK = 0.25


def _template_timeout(function: str) -> float:
    """A function's timeout as deployed (the Globals' for one outside the template)."""
    limits = template_limits()
    return limits.get(function, limits[""])[0]


class ExecutionTimeout(TimeoutError):
    """An execution was still running when :meth:`LocalEngine.wait` gave up."""


class LocalEngine:
    """The state machine in moto, the dead-letter queue, and the Lambda functions behind an invoke server.

    A context manager; :meth:`open` and :meth:`close` do the same by hand. Only one engine should run at a
    time in a process (a second one refuses to open): moto's mock, the environment and the moto patches
    are process-wide.

    The functions' runtime (:mod:`local_stack.lambda_runtime.runtimes`): ``runtime`` ("inprocess" or
    "process"), ``sandbox_hooks`` (function -> ``"module:callable"`` strings, called with its module in
    every sandbox), ``function_timeouts`` (function -> seconds, instead of the template's), ``concurrency``
    (for every function, or per function), ``extra_functions`` (name -> module, served next to the
    project's functions) and ``warm_sandboxes`` (sandboxes of each function started by :meth:`open`).
    """

    _open_lock = threading.Lock()
    _open_engine: LocalEngine | None = None

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        skip_retry_waits: bool = False,
        region: str = DEFAULT_REGION,
        machine_name: str = STATE_MACHINE_NAME,
        asl_path: os.PathLike[str] | str = ASL_PATH,
        quiet_moto: bool = True,
        prepare: Callable[[Any], Mapping[str, str] | None] | None = None,
        function_log: TextIO | None = None,
        fast: bool = True,
        runtime: str = "inprocess",
        sandbox_hooks: Mapping[str, Sequence[str]] | None = None,
        function_timeouts: Mapping[str, float] | None = None,
        concurrency: int | Mapping[str, int] | None = None,
        extra_functions: Mapping[str, str] | None = None,
        warm_sandboxes: int = 1,
        workflow_type: str = "STANDARD",
    ) -> None:
        """Configure; nothing starts before :meth:`open`.

        ``env`` overrides :func:`default_environment` (an empty value unsets a setting). ``prepare`` is called
        with a boto3 session inside moto once moto runs and before the functions are imported, to create
        resources (secrets, tables); the variables it returns are added to the functions' environment.
        ``fast`` applies the speed-ups of :mod:`~local_stack.stepfunctions.moto_patches` (off: moto exactly
        as it comes, and polling waits). The runtime's options: see the class. ``workflow_type``: the state
        machine's type; an EXPRESS execution stops at 300 s of its clock
        (:mod:`~local_stack.stepfunctions.execution_clock`), which :attr:`execution_seconds` keeps.
        """
        self.workflow_type, self.clocks = workflow_type, ExecutionClocks(workflow_type, _template_timeout)
        self.execution_seconds = self.clocks.seconds  # executionArn -> seconds as AWS would count them
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        self.runtime_kind, self.warm_sandboxes = runtime, warm_sandboxes
        self.modules = default_modules(extra_functions)
        self.sandbox_hooks = checked_hooks(sandbox_hooks, self.modules)
        self.configs = function_configs(self.modules, timeouts=function_timeouts, concurrency=concurrency)
        self._function_log, self.region = function_log, region
        self._prepare, self.machine_name, self.skip_retry_waits = prepare, machine_name, skip_retry_waits
        self.asl_path = os.fspath(asl_path)
        self.environment = {**default_environment(region, machine_name), **dict(env or {})}
        self.functions: dict[str, Any] | SandboxedModules = {}  # those that run, or read-only (process)
        # the waits recorded instead of slept (skip_retry_waits): moto's Retry, the functions' SDK retries
        self.retry_waits: list[float] = []
        self.sdk_retry_waits: list[float] = []
        self._runtime: Runtime | None = None
        self._moto_server: Any = None
        self.aws_services = MotoProcess()  # started in process mode only
        self._server: InvokeServer | None = None
        self.state_machine_arn = self.dead_letter_queue_url = self.moto_url = ""
        self.function_arns = {function: function_arn(function, region) for function in self.modules}
        self._mock = self._sfn = self._sqs = cast(Any, None)
        self._environment = SavedEnvironment()
        self._opened, self._quiet_moto, self.fast = False, quiet_moto, fast
        self._saved_log_levels: dict[str, int] = {}
        self._moto_patches: MotoPatches | None = None
        self._ended, self._ended_changed = set[str](), threading.Condition()
        #: ARNs :meth:`forget` dropped from moto, whose names stay taken (a replay's: ``RunStore.forgotten``)
        self.forgotten: MutableSet[str] = set()

    @property
    def runtime(self) -> Runtime:
        """The runtime the functions run in, while the engine is open."""
        if self._runtime is None:
            raise RuntimeError("the LocalEngine is not open: it has no runtime")
        return self._runtime

    @property
    def invoker(self) -> Runtime:
        """The runtime (its older name)."""
        return self.runtime

    @property
    def server(self) -> InvokeServer:
        """The Lambda Invoke server, while the engine is open."""
        if self._server is None:
            raise RuntimeError("the LocalEngine is not open: it has no invoke server")
        return self._server

    # --- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> LocalEngine:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> LocalEngine:
        """Start the invoke server and moto, import the functions, create the queue and the state machine."""
        if self._opened:
            return self
        with LocalEngine._open_lock:
            if LocalEngine._open_engine is not None:
                raise RuntimeError("another LocalEngine is open in this process; close it first")
            LocalEngine._open_engine = self
        self._opened = True
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def _open(self) -> None:
        from moto import mock_aws

        self._environment.set(self.environment, unset=_UNSET_WHILE_RUNNING)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        self._moto_patches = MotoPatches(
            skip_retry_waits=self.skip_retry_waits,
            fast=self.fast,
            record_retry_wait=self.clocks.also_recorded(self.retry_waits.append),
            record_sdk_retry_wait=self.clocks.also_recorded(self.sdk_retry_waits.append),
            on_terminated=self._execution_ended,
            forgotten=lambda arn: arn in self.forgotten,
            lambda_client=DirectLambdaClient(lambda: self.runtime, timed_out=self.clocks.timed_out),
            execution_limit=lambda: self.clocks.limit,
            on_program_end=self.clocks.ended,
        )
        self._moto_patches.install()
        if self._quiet_moto:
            for name, level in _QUIET_LOGGERS.items():
                self._saved_log_levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(level)
        import boto3

        session = boto3.session.Session(region_name=self.region)
        self._sfn = session.client("stepfunctions")
        self._sqs = session.client("sqs")
        if self.runtime_kind == "process":  # DynamoDB and Secrets Manager on a core of their own
            self.aws_services = MotoProcess()
            self.aws_services.start()
            self._environment.set(self.aws_services.endpoint_env())
        if self._prepare is not None:
            extra = dict(self._prepare(session) or {})
            self.environment.update(extra)
            self._environment.set(extra)
        self._create_queue()
        self._runtime = self._start_runtime()
        self._server = InvokeServer(self._runtime)  # a fresh one: a stopped server cannot start again
        self._server.start()
        self._environment.set({"AWS_ENDPOINT_URL_LAMBDA": self._server.url})
        self._create_state_machine()

    def _start_runtime(self) -> Runtime:
        """The functions imported here (inprocess), or their first sandboxes started (process)."""
        if self.runtime_kind == "inprocess":
            self.functions = import_functions(self.modules, self.sandbox_hooks)
            return Invoker(self.functions, self.region, log=self._function_log, configs=self.configs)
        from moto.server import ThreadedMotoServer

        self._moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto_server.start()
        host, port = self._moto_server.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.functions = SandboxedModules(self.modules)
        return ProcessRuntime(
            self.configs,
            {**self.environment, "AWS_ENDPOINT_URL": self.moto_url, **self.aws_services.endpoint_env()},
            region=self.region,
            log=self._function_log,
            hooks=self.sandbox_hooks,
            skip_retry_waits=self.skip_retry_waits,
            record_sdk_retry_wait=self.sdk_retry_waits.append,
            warm=self.warm_sandboxes,
        ).open()

    def _create_queue(self) -> None:
        self.dead_letter_queue_url = self._sqs.create_queue(
            QueueName=DEAD_LETTER_QUEUE_NAME,
            # as iac/template.yaml creates it: SQS then refuses what AWS would refuse
            Attributes={
                "MaximumMessageSize": str(dead_letters.MAX_MESSAGE_BYTES),
                "MessageRetentionPeriod": str(dead_letters.RETENTION_SECONDS),
            },
        )["QueueUrl"]

    def _create_state_machine(self) -> None:
        substitutions = {
            placeholder: self.function_arns[function]
            for placeholder, function in FUNCTION_PLACEHOLDERS.items()
        }
        substitutions[DEAD_LETTER_QUEUE_PLACEHOLDER] = self.dead_letter_queue_url
        with open(self.asl_path, encoding="utf-8") as file:
            definition = substitute(file.read(), substitutions)
        self.state_machine_arn = self._sfn.create_state_machine(
            name=self.machine_name,
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{self.machine_name}-state-machine",
            type=self.workflow_type,
        )["stateMachineArn"]

    def reset(self) -> None:
        """Forget executions, dead letters and recorded waits: state machine and queue are created afresh.

        Their ARN and URL stay the same. The function modules are kept, so swapped-in fakes stay in place.
        """
        self._sfn.delete_state_machine(stateMachineArn=self.state_machine_arn)
        self._create_state_machine()
        # PurgeQueue may run once a minute; a new queue of the same name has the same URL.
        self._sqs.delete_queue(QueueUrl=self.dead_letter_queue_url)
        self._create_queue()
        self.retry_waits.clear()
        self.sdk_retry_waits.clear()
        self.execution_seconds.clear()
        with self._ended_changed:
            self._ended.clear()
        self.forgotten.clear()

    def close(self) -> None:
        """Stop the server and moto; restore the environment and what the moto patches replaced."""
        if not self._opened:
            return
        self._opened = False
        try:
            if self._server is not None:
                self._server.stop()
                self._server = None
            if self._runtime is not None:
                self._runtime.close()
                self._runtime = None
            if self._moto_server is not None:
                self._moto_server.stop()
                self._moto_server = None
            self.aws_services.stop()
            stdout.uninstall()
        finally:
            if self._moto_patches is not None:
                self._moto_patches.uninstall()
                self._moto_patches = None
            for name, level in self._saved_log_levels.items():
                logging.getLogger(name).setLevel(level)
            self._saved_log_levels.clear()
            if self._mock is not None:
                self._mock.stop()
                self._mock = None
            self._environment.restore()
            with LocalEngine._open_lock:
                LocalEngine._open_engine = None

    # --- running -----------------------------------------------------------------------------------------
    def start(self, event: Mapping[str, Any], name: str | None = None) -> str:
        """Start an execution for one Segment message, with the input and name the entry function gives it.

        Returns the execution ARN. The message needs a string messageId (the entry function rejects it
        otherwise); ``name`` overrides the execution name.
        """
        from segment_personalize.executions import execution_input, execution_name

        message_id = event.get("messageId")
        if not isinstance(message_id, str):
            raise ValueError("the message needs a string messageId (the entry function rejects it otherwise)")
        return self.start_input(execution_input(message_id, event), name or execution_name(message_id))

    def start_input(self, execution_input: Mapping[str, Any] | str, name: str) -> str:
        """Start an execution with exactly this input (an object or its JSON) and name; its ARN."""
        body = execution_input if isinstance(execution_input, str) else json.dumps(execution_input)
        response = self._sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=body)
        return str(response["executionArn"])

    def describe(self, execution_arn: str) -> dict[str, Any]:
        """DescribeExecution, with ``input`` and ``output`` parsed from JSON when present."""
        answer = self._read("DescribeExecution", execution_arn)
        description = dict(answer or self._sfn.describe_execution(executionArn=execution_arn))
        description.pop("ResponseMetadata", None)
        for key in ("input", "output"):
            if isinstance(description.get(key), str):
                description[key] = json.loads(description[key])
        return description

    def wait(self, execution_arn: str, timeout: float = 30.0, poll: float = 0.02) -> dict[str, Any]:
        """Wait until the execution ends; its description. Raises ExecutionTimeout after ``timeout`` s.

        With ``fast``, moto tells the engine when an execution ends, and the engine describes it then (and
        every ``_ENDED_RECHECK`` s besides, in case an execution ends some other way); otherwise it polls
        DescribeExecution every ``poll`` s.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self._told_when_ended:
                with self._ended_changed:
                    self._ended_changed.wait_for(
                        lambda: execution_arn in self._ended,
                        timeout=max(0.0, min(_ENDED_RECHECK, deadline - time.monotonic())),
                    )
            description = self.describe(execution_arn)
            if description["status"] != "RUNNING":
                return description
            if time.monotonic() >= deadline:
                entered = [
                    event["stateEnteredEventDetails"]["name"]
                    for event in self.history(execution_arn)
                    if "stateEnteredEventDetails" in event
                ]
                raise ExecutionTimeout(
                    f"{execution_arn} still RUNNING after {timeout} s; states entered: {entered}"
                )
            if not self._told_when_ended:
                time.sleep(poll)

    @property
    def _told_when_ended(self) -> bool:
        """Whether moto tells the engine when an execution ends (the ``fast`` speed-ups, while open)."""
        return self._moto_patches is not None and self._moto_patches.fast

    def _execution_ended(self, execution_arn: str) -> None:
        with self._ended_changed:
            self._ended.add(execution_arn)
            self._ended_changed.notify_all()

    def run(self, event: Mapping[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Start an execution for ``event`` and wait for it; its description."""
        return self.wait(self.start(event), timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every history event of the execution, oldest first."""
        answer = self._read("GetExecutionHistory", execution_arn)
        if answer is not None:
            return list(answer["events"])
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self._sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def _read(self, operation: str, execution_arn: str) -> dict[str, Any] | None:
        """``operation``'s answer read in process (see :meth:`MotoPatches.read`); None when not fast."""
        if self._moto_patches is None:
            return None
        answer: dict[str, Any] | None = self._moto_patches.read(
            self._sfn, operation, execution_arn, ACCOUNT_ID, self.region
        )
        return answer

    def forget(self, execution_arn: str) -> None:
        """Drop an execution that has ended from moto, history and all; its name stays taken.

        moto keeps every execution with its history for as long as it runs (about 130 KB each for this
        workflow), so a long run grows without it. Afterwards StartExecution of the same name answers
        ExecutionAlreadyExists, as Step Functions does for a closed execution, and DescribeExecution and
        GetExecutionHistory answer ExecutionDoesNotExist: keep what you need first (the replay keeps both in
        ``runs.sqlite``). ValueError while it runs, or for an execution moto never held; forgetting one
        twice does nothing. The moto internals it touches are rows of :mod:`.moto_patches`.
        """
        if not drop_execution(ACCOUNT_ID, self.region, self.state_machine_arn, execution_arn):
            if execution_arn in self.forgotten:
                return
            raise ValueError(f"no execution {execution_arn} in moto to forget")
        self.forgotten.add(execution_arn)
        self.execution_seconds.pop(execution_arn, None)
        with self._ended_changed:
            self._ended.discard(execution_arn)

    def executions(self) -> list[dict[str, Any]]:
        """ListExecutions of the state machine, newest first."""
        paginator = self._sfn.get_paginator("list_executions")
        return [
            execution
            for page in paginator.paginate(stateMachineArn=self.state_machine_arn)
            for execution in page["executions"]
        ]

    def dead_letters(self) -> list[dict[str, Any]]:
        """The dead-letter queue's messages, parsed, oldest first; read without receiving them."""
        bodies = queued_message_bodies(ACCOUNT_ID, self.region, DEAD_LETTER_QUEUE_NAME)
        return [json.loads(body) for body in bodies]

    def invoke(self, function: str, payload: Any) -> Any:
        """Invoke ``function`` in its runtime, as the Invoke API does; its result, or InvocationError with
        Lambda's error payload (TooManyRequests past its concurrency)."""
        result, failed = self.runtime.invoke(function, payload)
        if failed:
            raise InvocationError(result)
        return result

    def deliver(self, message: Any) -> dict[str, Any]:
        """Hand a Segment message (or a list of them) to the entry function, as Segment's destination does."""
        result: dict[str, Any] = self.invoke("entry", message)
        return result
