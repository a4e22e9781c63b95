"""The moto and botocore internals the local engine replaces (moto is pinned in ``pyproject.toml``)."""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import json
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from local_stack.stepfunctions.json_copy import json_deepcopy


class RecordingTime:
    """Stands in for the ``time`` module inside moto's retrier: records the wait instead of sleeping."""

    def __init__(self, record: Callable[[float], None]) -> None:
        self._record = record

    def sleep(self, seconds: float) -> None:
        self._record(float(seconds))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


#: Parsed programs by definition text, shared by every engine of the process (see :class:`MotoSpeedups`).
_PROGRAMS: dict[str, Any] = {}
_PROGRAMS_LOCK = threading.Lock()
_PROGRAMS_KEPT = 16
#: Connections kept alive per task client: at least as many as executions run at once.
_TASK_POOL_CONNECTIONS = 128

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


class MotoSpeedups:
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
