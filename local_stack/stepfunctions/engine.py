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
  :attr:`LocalEngine.retry_waits` instead of slept, and the ``time`` botocore sleeps with between the
  functions' SDK retries (:attr:`LocalEngine.sdk_retry_waits`); every retry still happens and the ASL stays
  as deployed.

moto is pinned (``pyproject.toml``): the retrier patch and :meth:`LocalEngine.dead_letters` read moto
internals of that version.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import io
import json
import logging
import os
import pickle
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from types import ModuleType
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from functions import FUNCTIONS
from local_stack.lambda_runtime.context import LambdaContext
from local_stack.loopback import LoopbackServer
from state_machines import ASL_PATH, DEAD_LETTER_QUEUE_PLACEHOLDER, FUNCTION_PLACEHOLDERS, substitute

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
STATE_MACHINE_NAME = "segment-personalize"
DEAD_LETTER_QUEUE_NAME = "segment-personalize-dead-letters"
FUNCTION_PREFIX = "segment-personalize-"


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


class _Server(LoopbackServer):
    request_queue_size = 512  # moto opens one connection per task; bursts of executions must not be refused


class InvokeServer:
    """A threaded HTTP server on 127.0.0.1 that speaks the Lambda Invoke API for an :class:`Invoker`."""

    def __init__(self, invoker: Invoker, host: str = "127.0.0.1", port: int = 0) -> None:
        self.invoker = invoker

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: moto's task clients reuse their connections
            # headers and body are separate writes: without this, delayed ACKs stall each answer ~40 ms
            disable_nagle_algorithm = True

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

    @property
    def url(self) -> str:
        return self._httpd.url

    def start(self) -> None:
        self._httpd.start("lambda-invoke")

    def stop(self) -> None:
        self._httpd.stop()


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


#: Parsed programs by definition text, shared by every engine of the process (see :class:`_MotoSpeedups`).
_PROGRAMS: dict[str, Any] = {}
_PROGRAMS_LOCK = threading.Lock()
_PROGRAMS_KEPT = 16
#: Connections kept alive per task client: at least as many as executions run at once.
_TASK_POOL_CONNECTIONS = 128
#: How often a fast :meth:`LocalEngine.wait` looks at an execution that has not been reported ended.
_ENDED_RECHECK = 0.25

#: Modules of moto's interpreter that build clients with ``boto_client_for`` (the ones this workflow's task
#: types reach: Lambda, SQS, and the generic AWS SDK integration).
_CLIENT_USERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda",
)


def _touch_heap_keys(component: Any, seen: set[int]) -> None:
    """Give every component of a parsed program its heap key now, while one thread holds it.

    moto keeps per-execution evaluation state (retry attempt counts, backoff multipliers) in the execution's
    own ``env.heap`` under each component's ``heap_key``, a uid made lazily on first use. A program shared
    by concurrent executions must not have two threads make that uid at once.
    """
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    children: list[Any] = []
    for value in vars(component).values() if hasattr(component, "__dict__") else ():
        children.extend(
            value
            if isinstance(value, list | tuple)
            else value.values()
            if isinstance(value, dict)
            else [value]
        )
    for child in children:
        if isinstance(child, Component):
            _touch_heap_keys(child, seen)


#: Modules of moto's interpreter that parse a JSONPath (InputPath, Parameters, ResultPath, ...) on every use.
_JSONPATH_USERS = (
    "moto.stepfunctions.parser.asl.utils.json_path",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
)


#: Modules of moto's interpreter that deep-copy execution data (state input and output, payloads, events).
_DEEPCOPY_USERS = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.eval.environment",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)
_ATOMS = (str, int, float, bool, type(None))


class _JsonOnlyPickler(pickle.Pickler):
    """Pickles exact dicts, lists and JSON scalars (which the C pickler handles itself); refuses the rest."""

    def reducer_override(self, obj: Any) -> Any:
        raise _NotJson


class _NotJson(Exception):
    pass


def json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy``, several times faster on JSON data: the same result, shared sub-objects included.

    A tree of exact dicts, lists and JSON scalars is copied by a pickle round trip (C code that keeps
    shared sub-objects shared, as deepcopy does); otherwise exact dicts and lists are walked here and
    anything else (tuples, enums, datetimes, moto's own objects) goes to ``copy.deepcopy`` with the memo.
    """
    kind = type(value)
    if kind in _ATOMS:
        return value
    if memo is None:
        if kind is dict or kind is list:
            buffer = io.BytesIO()
            try:
                _JsonOnlyPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
            except (_NotJson, pickle.PicklingError, RecursionError):
                pass
            else:
                return pickle.loads(buffer.getvalue())  # noqa: S301 - bytes this function just made
        memo = {}
    copied = memo.get(id(value))
    if copied is not None:
        return copied
    if kind is dict:
        copied = memo[id(value)] = {}
        for key, item in value.items():
            copied[key if type(key) is str else copy.deepcopy(key, memo)] = (
                item if type(item) in _ATOMS else json_deepcopy(item, memo)
            )
        return copied
    if kind is list:
        copied = memo[id(value)] = []
        copied.extend(item if type(item) in _ATOMS else json_deepcopy(item, memo) for item in value)
        return copied
    return copy.deepcopy(value, memo)


class _FastCopyModule:
    """Stands in for the ``copy`` module in moto's interpreter modules: :func:`json_deepcopy` as deepcopy."""

    deepcopy = staticmethod(json_deepcopy)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _cached_jsonpath_parser(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` remembered per path: jsonpath_ng builds a PLY parser for every call, and its parsed paths
    hold no state (``find`` and ``update_or_create`` only read them)."""
    return functools.lru_cache(maxsize=1024)(parse)


def parsed_program(definition: str) -> Any:
    """moto's evaluation entry point for ``definition``: parsed once per process, then shared.

    Sound because moto's evaluation components are immutable after parsing: everything an execution changes
    lives in its own ``Environment`` (stack, heap, states, event history). Parse errors are not cached.
    """
    with _PROGRAMS_LOCK:
        program = _PROGRAMS.get(definition)
        if program is None:
            from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

            program = AmazonStateLanguageParser.parse(definition)[0]
            _touch_heap_keys(program, set())
            if len(_PROGRAMS) >= _PROGRAMS_KEPT:
                _PROGRAMS.pop(next(iter(_PROGRAMS)))
            _PROGRAMS[definition] = program
        return program


class _MotoSpeedups:
    """What makes moto's interpreter fast, without changing what the ASL means. All of it is here.

    moto (pinned at 5.2.5 in ``pyproject.toml``) as it comes re-parses the definition with ANTLR for every
    execution and builds a new boto3 client (a new botocore session, service model loaded from JSON) for
    every task, and :meth:`LocalEngine.wait` would poll DescribeExecution. While an engine is open:

    * ``ExecutionWorker._get_evaluation_entrypoint`` returns the program parsed once per definition
      (:func:`parsed_program`): the same tree moto would build, evaluated against each execution's own
      environment.
    * ``boto_client_for`` returns one client per (region, service) for the engine's lifetime, built exactly
      as moto builds it (no parameter validation, no SDK retries, moto's timeouts) with a connection pool
      large enough for concurrent executions, so connections to the invoke server are kept alive; the
      Lambda client does not sign (the invoke server checks no signature). botocore clients are thread
      safe. The cache is dropped on close: clients bind endpoints (the invoke server's port) and moto's
      interception state when they are built.
    * moto's JSONPath parsing (every InputPath, Parameters binding, ResultPath) is remembered per path, and
      its defensive deep copies of execution data use :func:`json_deepcopy` (same result, a pickle round
      trip for JSON data instead of ``copy.deepcopy``'s Python recursion).
    * requests to 127.0.0.1 skip moto's URL matching (:meth:`_pass_loopback_through`).
    * DescribeExecution and GetExecutionHistory are answered in process (:meth:`read`), with the values the
      API would return.
    * ``BaseExecutionWorkerCommunication.terminated`` also tells the engine that the execution ended, so
      :meth:`LocalEngine.wait` sleeps until then instead of polling.

    The execution history events are the same with and without (``tests/statemachine/test_engine_speed.py``).
    """

    def __init__(self, on_terminated: Callable[[str], None]) -> None:
        self._on_terminated = on_terminated
        self._saved: list[tuple[Any, str, Any]] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()

    def install(self) -> None:
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        def entrypoint(worker: Any) -> Any:
            return parsed_program(worker._evaluation_details.state_machine_details.definition)

        original_terminated = BaseExecutionWorkerCommunication.terminated
        on_terminated = self._on_terminated

        def terminated(communication: Any) -> None:
            original_terminated(communication)
            on_terminated(communication.execution.exec_arn)

        self._replace(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)
        for module_name in _DEEPCOPY_USERS:
            self._replace(importlib.import_module(module_name), "copy", _FastCopyModule())
        for module_name in _JSONPATH_USERS:
            module = importlib.import_module(module_name)
            self._replace(module, "parse", _cached_jsonpath_parser(module.parse))
        self._replace(BaseExecutionWorkerCommunication, "terminated", terminated)
        for module_name in _CLIENT_USERS:
            module = importlib.import_module(module_name)
            if hasattr(module, "boto_client_for"):
                self._replace(module, "boto_client_for", self.client_for)
        self._pass_loopback_through()

    def _pass_loopback_through(self) -> None:
        """Requests to 127.0.0.1 skip moto's URL matching, which would let them through anyway.

        With ``mock_aws`` on, every botocore request (the Lambda invokes, the functions' Personalize calls)
        and every ``requests`` call (Segment's library, the Profile API) is matched against the URL
        patterns of every moto backend before moto lets it through to the network. No pattern matches a
        loopback address (checked here, else nothing is changed), so the answer is known in advance.
        """
        from moto import backend_index
        from moto.core.models import botocore_stubber, responses_mock

        sample = "http://127.0.0.1:1/2015-03-31/functions/f/invocations"
        if any(pattern.match(sample) for _, pattern in backend_index.backend_url_patterns):
            return
        moto_process_request = botocore_stubber.process_request

        def process_request(request: Any) -> Any:
            if request.url.startswith(_LOOPBACK):
                return None
            return moto_process_request(request)

        self._replace(botocore_stubber, "process_request", process_request)
        registered = [*responses_mock.registered()]
        passed_through = any(
            isinstance(prefix, str) and sample.startswith(prefix)
            for prefix in responses_mock.passthru_prefixes
        )
        if not passed_through or any(_url_pattern_matches(response, sample) for response in registered):
            return
        moto_on_request = responses_mock._on_request

        def on_request(adapter: Any, request: Any, *, retries: Any = None, **kwargs: Any) -> Any:
            if str(request.url).startswith(_LOOPBACK):
                return responses_mock._real_send(adapter, request, **kwargs)  # type: ignore[call-arg]
            return moto_on_request(adapter, request, retries=retries, **kwargs)

        self._replace(responses_mock, "_on_request", on_request)

    def _replace(self, owner: Any, name: str, value: Any) -> None:
        """Set ``owner.name`` (a class, module or instance attribute) to ``value`` until :meth:`uninstall`."""
        if isinstance(owner, type):
            saved = owner.__dict__[name]
        elif isinstance(owner, ModuleType) or name in vars(owner):
            saved = getattr(owner, name)
        else:
            saved = _DELETE  # an instance attribute that shadows the class's method while installed
        self._saved.append((owner, name, saved))
        setattr(owner, name, value)

    def client_for(self, region: str, service: str, state_credentials: Any = None) -> Any:
        """moto's ``boto_client_for``, built once per (region, service); credentials are unused there too."""
        key = (region, service)
        client = self._clients.get(key)
        if client is None:
            with self._clients_lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = _moto_task_client(region, service)
        return client

    def read(self, client: Any, operation: str, execution_arn: str, account: str, region: str) -> Any:
        """DescribeExecution or GetExecutionHistory answered from moto's backend in process: moto's own
        response method builds the result, which goes through JSON (timestamps as moto's serializer writes
        them) and botocore's own parser for the operation's output shape, so the value is the one the client
        call returns, without moto's slow model-driven serializer, signing and the HTTP plumbing. None when
        moto raises (the caller then asks the API, which raises the proper ClientError)."""
        from moto.stepfunctions.responses import StepFunctionResponse

        responder = StepFunctionResponse()
        responder.current_account, responder.region = account, region
        responder._get_param = lambda name, *default: execution_arn if name == "executionArn" else None  # type: ignore[method-assign]
        try:
            result = getattr(responder, _SNAKE[operation])().result
        except Exception:  # noqa: BLE001 - ExecutionDoesNotExist & co: the API call raises them properly
            return None
        shape = client.meta.service_model.operation_model(operation).output_shape
        body = json.dumps(result, default=_moto_json_value)
        return self._parser._parse_shape(shape, json.loads(body))

    @functools.cached_property
    def _parser(self) -> Any:
        from botocore.parsers import ResponseParserFactory

        parser: Any = ResponseParserFactory().create_parser("json")
        parser._timestamp_parser = _client_timestamp
        return parser

    def uninstall(self) -> None:
        for owner, name, value in reversed(self._saved):
            if value is _DELETE:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        self._saved.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()


_DELETE = object()
_LOOPBACK = ("http://127.0.0.1:", "http://localhost:")


def _url_pattern_matches(response: Any, url: str) -> bool:
    """Whether a ``responses`` registration (moto's are compiled patterns) would answer ``url``."""
    pattern = getattr(response, "url", None)
    if isinstance(pattern, str):
        return url.startswith(pattern.split("?", 1)[0])
    return bool(pattern is not None and hasattr(pattern, "match") and pattern.match(url))


_SNAKE = {"DescribeExecution": "describe_execution", "GetExecutionHistory": "get_execution_history"}


def _moto_epoch(value: Any) -> Any:
    """A timestamp as moto's JSON serializer writes it: epoch seconds, truncated to milliseconds."""
    import datetime

    from botocore.utils import parse_to_aware_datetime
    from moto.core.serialize import TimestampSerializer

    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.datetime.fromisoformat(value)  # moto's history: 2026-11-01T09:00:00.123Z
    return TimestampSerializer._timestamp_unixtimestamp(parse_to_aware_datetime(value))


def _client_timestamp(value: Any) -> Any:
    """What the client's parser makes of the timestamp moto would have written for ``value``."""
    from botocore.utils import parse_timestamp

    return parse_timestamp(_moto_epoch(value))


def _moto_json_value(value: Any) -> Any:
    """What moto's JSON serializer writes for values json cannot: epoch seconds (ms precision) for a
    datetime, the value of an enum."""
    import datetime
    import enum

    if isinstance(value, datetime.datetime):
        return _moto_epoch(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _moto_task_client(region: str, service: str) -> Any:
    """A client as moto's ``boto_client_for`` builds it, with a pool for concurrent executions."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    kwargs: dict[str, Any] = {}
    if not botocore_stubber.enabled:
        kwargs["endpoint_url"] = f"http://localhost:{moto_server_port()}"
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        aws_access_key_id="ak",
        region_name=region,
        aws_secret_access_key="sk",  # noqa: S106 - the dummy credentials moto uses itself
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            max_pool_connections=_TASK_POOL_CONNECTIONS,
            # the invoke server checks no signature: Lambda invokes go unsigned (SQS reaches moto signed)
            **({"signature_version": UNSIGNED} if service == "lambda" else {}),
        ),
        **kwargs,
    )


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
        quiet_moto: bool = True,
        prepare: Callable[[Any], Mapping[str, str] | None] | None = None,
        function_log: TextIO | None = None,
        fast: bool = True,
    ) -> None:
        """Configure; nothing starts before :meth:`open`.

        ``env`` overrides :func:`default_environment` (an empty value unsets a setting). ``prepare`` is called
        with a boto3 session inside moto once moto runs and before the functions are imported, to create
        resources (secrets, tables); the variables it returns are added to the functions' environment.
        ``fast`` applies :class:`_MotoSpeedups` (off: moto exactly as it comes, and polling waits).
        """
        self.region = region
        self._prepare = prepare
        self.machine_name = machine_name
        self.asl_path = os.fspath(asl_path)
        self.skip_retry_waits = skip_retry_waits
        self.environment = {**default_environment(region, machine_name), **dict(env or {})}
        self.functions: dict[str, ModuleType] = {}
        self.retry_waits: list[float] = []
        #: Backoff waits of the functions' AWS SDK retries, recorded instead of slept (skip_retry_waits).
        self.sdk_retry_waits: list[float] = []
        self.invoker = Invoker(self.functions, region, log=function_log)
        self._server: InvokeServer | None = None
        self.state_machine_arn = ""
        self.dead_letter_queue_url = ""
        self.function_arns = {function: function_arn(function, region) for function in FUNCTIONS}
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_retrier_time: Any = None
        self._saved_sdk_time: Any = None
        self._sfn: Any = None
        self._sqs: Any = None
        self._opened = False
        self._quiet_moto = quiet_moto
        self._saved_moto_log_level: int | None = None
        self.fast = fast
        self._speedups: _MotoSpeedups | None = None
        self._ended: set[str] = set()
        self._ended_changed = threading.Condition()

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

        self._server = InvokeServer(self.invoker)  # a fresh one: a stopped server cannot start again
        self._server.start()
        self._set_environment(
            {**self.environment, "AWS_ENDPOINT_URL_LAMBDA": self.server.url}, unset=_UNSET_WHILE_RUNNING
        )
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        if self.skip_retry_waits:
            self._patch_retrier()
        if self.fast:
            self._speedups = _MotoSpeedups(self._execution_ended)
            self._speedups.install()
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
        self.sdk_retry_waits.clear()
        with self._ended_changed:
            self._ended.clear()

    def close(self) -> None:
        """Stop the server and moto; restore the environment and moto's retrier."""
        if not self._opened:
            return
        self._opened = False
        try:
            if self._server is not None:
                self._server.stop()
                self._server = None
        finally:
            if self._speedups is not None:
                self._speedups.uninstall()
                self._speedups = None
            if self._saved_retrier_time is not None:
                from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

                retrier_decl.time = self._saved_retrier_time
                self._saved_retrier_time = None
            if self._saved_sdk_time is not None:
                import botocore.endpoint

                botocore.endpoint.time = self._saved_sdk_time  # type: ignore[attr-defined]
                self._saved_sdk_time = None
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
        # the functions' boto3 clients retry once in the SDK (clients.STEP_CLIENT_CONFIG); botocore sleeps in
        # its endpoint module between attempts: record those waits too, the attempts still happen
        import botocore.endpoint

        self._saved_sdk_time = botocore.endpoint.time  # type: ignore[attr-defined]
        botocore.endpoint.time = _RecordingTime(self.sdk_retry_waits.append)  # type: ignore[attr-defined]

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
            if self._speedups is not None:
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
            if self._speedups is None:
                time.sleep(poll)

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
        """``operation``'s answer read in process (see :meth:`_MotoSpeedups.read`); None when not fast."""
        if self._speedups is None:
            return None
        answer: dict[str, Any] | None = self._speedups.read(
            self._sfn, operation, execution_arn, ACCOUNT_ID, self.region
        )
        return answer

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
