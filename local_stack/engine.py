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
  points at :class:`InvokeServer`, a threaded HTTP server on 127.0.0.1 speaking the Lambda Invoke API. moto's
  botocore stubber only answers URLs of AWS services, so these calls reach the server untouched. The server
  calls ``functions.<name>.app.lambda_handler``; an exception becomes Lambda's error payload with
  ``X-Amz-Function-Error: Unhandled``, so Step Functions sees ``Error`` = the exception's class name.
* The functions' settings are environment variables, set before their modules are (re)imported.
* ``skip_retry_waits`` patches the ``time`` used by moto's retrier so that backoff waits are recorded in
  :attr:`LocalEngine.retry_waits` instead of slept; the ASL stays as deployed.

moto is pinned (``pyproject.toml``): the retrier patch and :meth:`LocalEngine.dead_letters` read moto
internals of that version.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from state_machines import ASL_PATH, DEAD_LETTER_QUEUE_PLACEHOLDER, FUNCTION_PLACEHOLDERS, substitute

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
STATE_MACHINE_NAME = "segment-personalize"
DEAD_LETTER_QUEUE_NAME = "segment-personalize-dead-letters"
FUNCTION_PREFIX = "segment-personalize-"

#: Every function the engine can run: the five steps and the entry function Segment invokes.
FUNCTIONS: tuple[str, ...] = ("entry", *FUNCTION_PLACEHOLDERS.values())

#: Variables removed while the engine runs, so moto (not some other endpoint) answers Step Functions and SQS.
_UNSET_WHILE_RUNNING = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE")

#: moto logs every failed execution at ERROR from this logger; the history already says it all.
_MOTO_FAILURE_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"

_INVOKE_PATH_PREFIX = "/2015-03-31/functions/"
_INVOKE_PATH_SUFFIX = "/invocations"


def function_name(function: str) -> str:
    """The Lambda function name of ``function`` (a folder of ``functions/``): segment-personalize-track."""
    return FUNCTION_PREFIX + function.replace("_", "-")


def function_arn(function: str, region: str = DEFAULT_REGION, account: str = ACCOUNT_ID) -> str:
    """The ARN the engine substitutes for the function's ASL placeholder."""
    return f"arn:aws:lambda:{region}:{account}:function:{function_name(function)}"


def state_machine_arn(
    name: str = STATE_MACHINE_NAME, region: str = DEFAULT_REGION, account: str = ACCOUNT_ID
) -> str:
    """The ARN moto gives the state machine ``name``."""
    return f"arn:aws:states:{region}:{account}:stateMachine:{name}"


def default_environment(
    region: str = DEFAULT_REGION, machine_name: str = STATE_MACHINE_NAME
) -> dict[str, str]:
    """Settings that let every function import with no AWS account and no network.

    Personalize and Segment addresses are left at their defaults or point nowhere useful: tests swap the
    adapters for fakes, the local stack overrides them with its own services.
    """
    return {
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "STATE_MACHINE_ARN": state_machine_arn(machine_name, region),
        "PERSONALIZE_TRACKING_ID": "local-tracking-id",
        "PERSONALIZE_CAMPAIGN_ARN": f"arn:aws:personalize:{region}:{ACCOUNT_ID}:campaign/segment-personalize",
        "SEGMENT_WRITE_KEY": "local-write-key",
        "SEGMENT_HOST": "http://127.0.0.1:9",  # the discard port: nothing answers unless overridden
        "POWERTOOLS_SERVICE_NAME": "segment-personalize",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that Powertools and the handlers read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    timeout_ms: int = 30_000

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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
        serialize: bool = True,
        log: TextIO | None = None,
    ) -> None:
        self.modules = modules
        self.region = region
        # What the functions print (Powertools' log lines and EMF metrics) goes here, as Lambda sends a
        # function's stdout to CloudWatch Logs; None leaves it on this process's stdout.
        self.log = log
        # The functions share one process (and Powertools' logger and metrics): one invoke at a time keeps
        # each invoke's correlation id and metrics its own, as separate Lambda sandboxes would.
        self._lock: threading.Lock | None = threading.Lock() if serialize else None
        self.invocations: list[tuple[str, Any]] = []

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
        self.invocations.append((function, payload))
        try:
            if self._lock is None:
                result = module.lambda_handler(payload, context)
            else:
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # moto opens one connection per task; bursts of executions must not be refused


class InvokeServer:
    """A threaded HTTP server on 127.0.0.1 that speaks the Lambda Invoke API for an :class:`Invoker`."""

    def __init__(self, invoker: Invoker, host: str = "127.0.0.1", port: int = 0) -> None:
        self.invoker = invoker

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                if not (path.startswith(_INVOKE_PATH_PREFIX) and path.endswith(_INVOKE_PATH_SUFFIX)):
                    self._reply(
                        404, {"message": f"no route for {path}"}, {"x-amzn-ErrorType": "UnknownOperation"}
                    )
                    return
                requested = unquote(path[len(_INVOKE_PATH_PREFIX) : -len(_INVOKE_PATH_SUFFIX)])
                try:
                    function = invoker.resolve(requested)
                except KeyError:
                    self._reply(
                        404,
                        {"Type": "User", "message": f"Function not found: {requested}"},
                        {"x-amzn-ErrorType": "ResourceNotFoundException"},
                    )
                    return
                try:
                    payload = json.loads(body) if body else {}
                except ValueError:
                    self._reply(
                        400,
                        {"Type": "User", "message": "Could not parse request body into json"},
                        {"x-amzn-ErrorType": "InvalidRequestContentException"},
                    )
                    return
                result, failed = invoker.invoke(function, payload)
                headers = {"X-Amz-Executed-Version": "$LATEST"}
                if failed:
                    headers["X-Amz-Function-Error"] = "Unhandled"
                self._reply(200, result, headers)

            def _reply(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's signature
                return

        self._httpd = _Server((host, port), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="lambda-invoke",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _RecordingTime:
    """Stands in for the ``time`` module inside moto's retrier: records the wait instead of sleeping."""

    def __init__(self, record: Callable[[float], None]) -> None:
        self._record = record

    def sleep(self, seconds: float) -> None:
        self._record(float(seconds))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class ExecutionTimeout(TimeoutError):
    """An execution was still running when :meth:`LocalEngine.wait` gave up."""


class LocalEngine:
    """The state machine in moto, the dead-letter queue, and the Lambda functions behind an invoke server.

    A context manager; :meth:`open` and :meth:`close` do the same by hand. Only one engine should run at a
    time in a process (a second one refuses to open): moto's mock, the environment and the retrier patch
    are process-wide.
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
        serialize_invocations: bool = True,
        quiet_moto: bool = True,
        prepare: Callable[[Any], Mapping[str, str] | None] | None = None,
        function_log: TextIO | None = None,
    ) -> None:
        """Configure; nothing starts before :meth:`open`.

        ``env`` overrides :func:`default_environment` (an empty value unsets a setting). ``prepare`` is called
        with a boto3 session inside moto once moto runs and before the functions are imported, to create
        resources (secrets, tables); the variables it returns are added to the functions' environment.
        """
        self.region = region
        self._prepare = prepare
        self.machine_name = machine_name
        self.asl_path = os.fspath(asl_path)
        self.skip_retry_waits = skip_retry_waits
        self.environment = {**default_environment(region, machine_name), **dict(env or {})}
        self.functions: dict[str, ModuleType] = {}
        self.retry_waits: list[float] = []
        self.invoker = Invoker(self.functions, region, serialize=serialize_invocations, log=function_log)
        self.server = InvokeServer(self.invoker)
        self.state_machine_arn = ""
        self.dead_letter_queue_url = ""
        self.function_arns = {function: function_arn(function, region) for function in FUNCTIONS}
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_retrier_time: Any = None
        self._sfn: Any = None
        self._sqs: Any = None
        self._opened = False
        self._quiet_moto = quiet_moto
        self._saved_moto_log_level: int | None = None

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

        self.server = InvokeServer(self.invoker)  # a fresh one: a stopped server cannot start again
        self.server.start()
        self._set_environment(
            {**self.environment, "AWS_ENDPOINT_URL_LAMBDA": self.server.url}, unset=_UNSET_WHILE_RUNNING
        )
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        if self.skip_retry_waits:
            self._patch_retrier()
        if self._quiet_moto:
            moto_logger = logging.getLogger(_MOTO_FAILURE_LOGGER)
            self._saved_moto_log_level = moto_logger.level
            moto_logger.setLevel(logging.CRITICAL)
        import boto3

        session = boto3.session.Session(region_name=self.region)
        self._sfn = session.client("stepfunctions")
        self._sqs = session.client("sqs")
        if self._prepare is not None:
            extra = dict(self._prepare(session) or {})
            self.environment.update(extra)
            self._set_environment(extra)
        self._create_queue()
        self.functions.update(self._import_functions())
        self._create_state_machine()

    def _create_queue(self) -> None:
        self.dead_letter_queue_url = self._sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]

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
            type="STANDARD",
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
        self.invoker.invocations.clear()

    def close(self) -> None:
        """Stop the server and moto; restore the environment and moto's retrier."""
        if not self._opened:
            return
        self._opened = False
        try:
            self.server.stop()
        finally:
            if self._saved_retrier_time is not None:
                from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

                retrier_decl.time = self._saved_retrier_time
                self._saved_retrier_time = None
            if self._saved_moto_log_level is not None:
                logging.getLogger(_MOTO_FAILURE_LOGGER).setLevel(self._saved_moto_log_level)
                self._saved_moto_log_level = None
            if self._mock is not None:
                self._mock.stop()
                self._mock = None
            self._restore_environment()
            with LocalEngine._open_lock:
                LocalEngine._open_engine = None

    def _set_environment(self, values: Mapping[str, str], unset: tuple[str, ...] = ()) -> None:
        """Set ``values`` and remove ``unset`` (unless given a value), remembering what was there."""
        for key in (*unset, *values):
            if key not in self._saved_env:
                self._saved_env[key] = os.environ.get(key)
        for key in unset:
            if key not in values:
                os.environ.pop(key, None)
        os.environ.update(values)

    def _restore_environment(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _patch_retrier(self) -> None:
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        self._saved_retrier_time = retrier_decl.time
        retrier_decl.time = _RecordingTime(self.retry_waits.append)  # type: ignore[assignment]

    def _import_functions(self) -> dict[str, ModuleType]:
        """Import each ``functions.<name>.app`` afresh, so it reads this engine's settings and clients."""
        modules = {}
        for function in FUNCTIONS:
            module_name = f"functions.{function}.app"
            if module_name in sys.modules:
                modules[function] = importlib.reload(sys.modules[module_name])
            else:
                modules[function] = importlib.import_module(module_name)
        return modules

    # --- running -----------------------------------------------------------------------------------------
    def start(self, event: Mapping[str, Any], name: str | None = None) -> str:
        """Start an execution for one Segment message, with the input and name the entry function gives it.

        Returns the execution ARN. The message needs a string messageId (the entry function rejects it
        otherwise); ``name`` overrides the execution name.
        """
        from segment_personalize.naming import execution_input, execution_name

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
        description = dict(self._sfn.describe_execution(executionArn=execution_arn))
        description.pop("ResponseMetadata", None)
        for key in ("input", "output"):
            if isinstance(description.get(key), str):
                description[key] = json.loads(description[key])
        return description

    def wait(self, execution_arn: str, timeout: float = 30.0, poll: float = 0.02) -> dict[str, Any]:
        """Poll until the execution ends; its description. Raises ExecutionTimeout after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
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
            time.sleep(poll)

    def run(self, event: Mapping[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Start an execution for ``event`` and wait for it; its description."""
        return self.wait(self.start(event), timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every history event of the execution, oldest first."""
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self._sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

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
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT_ID][self.region].get_queue(DEAD_LETTER_QUEUE_NAME)
        return [json.loads(message.body) for message in list(queue._messages)]

    def invoke(self, function: str, payload: Any) -> Any:
        """Invoke ``function`` in process; its result, or InvocationError with Lambda's error payload."""
        result, failed = self.invoker.invoke(function, payload)
        if failed:
            raise InvocationError(result)
        return result

    def deliver(self, message: Any) -> dict[str, Any]:
        """Hand a Segment message (or a list of them) to the entry function, as Segment's destination does."""
        result: dict[str, Any] = self.invoke("entry", message)
        return result
