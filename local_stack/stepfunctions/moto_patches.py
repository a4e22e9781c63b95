"""Every moto and botocore internal the local engine replaces or reads: what, why, what an upgrade breaks.

moto and botocore are pinned in ``pyproject.toml`` because of this module. :data:`PATCHES` has one row per
attribute :class:`MotoPatches` replaces while a ``LocalEngine`` is open, :data:`READS` one per internal read
instead of an API call. A row belongs to one of the engine's switches, ``skip_retry_waits`` (the backoff
waits of moto's Retry and of the functions' SDK retries are recorded, not slept; every retry still happens)
or ``fast`` (moto's interpreter without its per-execution and per-task overheads; off, moto runs as it comes
and ``LocalEngine.wait`` polls), or to none (``always``: the dead-letter read, ``LocalEngine.forget``, which
drops an ended execution from moto while its name stays taken, and the error name of a Lambda task whose
invoke the Lambda service refused, which moto gets wrong). Neither switch changes what the ASL means:
``tests/statemachine/local_stack/stepfunctions/test_moto_patches.py`` runs every path of the workflow with
and without them, and checks that :data:`PATCHES` is exactly what ``install`` replaces and ``uninstall``
restores. On an upgrade, read each row's ``breaks_on_upgrade`` against the new code.
"""

from __future__ import annotations

import functools
import json
import pkgutil
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from local_stack.stepfunctions import forgetting
from local_stack.stepfunctions.execution_clock import ClockedThread, ExecutionClock, timed_eval
from local_stack.stepfunctions.parsed_programs import evaluation_entrypoint, parsed_program
from local_stack.stepfunctions.replacements import (
    FastCopyModule,
    RecordingTime,
    cached_jsonpath_parser,
    client_timestamp,
    lambda_service_errors,
    moto_json_value,
    moto_task_client,
    reported_error_name,
    url_pattern_matches,
)

__all__ = ["PATCHES", "READS", "MotoPatches", "RecordingTime", "parsed_program", "queued_message_bodies"]


class Internal(NamedTuple):
    """A row of :data:`PATCHES` or :data:`READS`: one moto or botocore internal the engine depends on."""

    target: str  # dotted path of the attribute: a module's, a class's, or a module-level object's
    switch: str  # the LocalEngine switch it belongs to: skip_retry_waits, fast (always: no switch)
    replaces: str
    why: str
    breaks_on_upgrade: str


def _each(targets: Iterable[str], switch: str, replaces: str, why: str, breaks: str) -> tuple[Internal, ...]:
    """One row per target, for targets replaced the same way in several modules."""
    return tuple(Internal(target, switch, replaces, why, breaks) for target in targets)


_ASL = "moto.stepfunctions.parser.asl"
_TASK = f"{_ASL}.component.state.exec.state_task"
#: Modules of moto's interpreter that deep-copy execution data (state input and output, payloads, events).
_DEEPCOPY_USERS = (
    f"{_ASL}.eval.states",
    f"{_ASL}.eval.environment",
    f"{_ASL}.eval.event.event_manager",
    f"{_ASL}.component.common.string.string_expression",
    f"{_ASL}.component.common.path.result_path",
    f"{_ASL}.component.state.exec.execute_state",
    f"{_TASK}.service.state_task_service",
)
#: Modules of moto's interpreter that parse a JSONPath (InputPath, Parameters, ResultPath, ...) on every use.
_JSONPATH_USERS = (f"{_ASL}.utils.json_path", f"{_ASL}.component.common.path.result_path")
#: Modules of moto's interpreter that build task clients with ``boto_client_for`` for this workflow's task
#: types: Lambda, SQS, and the generic AWS SDK integration.
_CLIENT_USERS = (
    f"{_TASK}.lambda_eval_utils",
    f"{_TASK}.service.state_task_service_sqs",
    f"{_TASK}.service.state_task_service_aws_sdk",
)

#: Every attribute :meth:`MotoPatches.install` replaces (and :meth:`MotoPatches.uninstall` puts back).
PATCHES: tuple[Internal, ...] = (
    Internal(
        f"{_ASL}.component.common.retry.retrier_decl.time",
        "skip_retry_waits",
        replaces="the time module whose sleep waits out the backoff of the ASL's Retry",
        why="RecordingTime: the wait goes to LocalEngine.retry_waits, the retry happens at once",
        breaks_on_upgrade="the retrier sleeping through another name: retry paths really wait again",
    ),
    Internal(
        "botocore.endpoint.time",
        "skip_retry_waits",
        replaces="the time module botocore sleeps with between a client's retry attempts",
        why="RecordingTime: the functions' SDK retry waits go to LocalEngine.sdk_retry_waits (each sandbox "
        "of the process runtime replaces it in its own botocore and returns its waits with each invocation)",
        breaks_on_upgrade="botocore sleeping somewhere else: the functions' SDK retries really wait again",
    ),
    Internal(
        f"{_TASK}.state_task_lambda.StateTaskLambda._from_error",
        "always",
        replaces="the failure of a Lambda task whose Invoke call got an error answer (a ClientError), which "
        "moto names Exception",
        why="Step Functions names it Lambda.<error code>: a throttled invoke is "
        "Lambda.TooManyRequestsException, which the ASL retries (concepts-error-handling.html)",
        breaks_on_upgrade="moto naming it itself (drop the row then); _from_error's signature; FailureEvent",
    ),
    Internal(
        f"{_ASL}.component.program.program.Program.eval",
        "always",
        replaces="the top-level run of an execution's program in a worker thread (moto's own timeout is "
        "the ASL's TimeoutSeconds in real time)",
        why="execution_clock.timed_eval: the same worker thread with the execution's clock in it, so the "
        "time recorded instead of slept counts, and an EXPRESS execution stops at 300 s as on AWS",
        breaks_on_upgrade="Program.eval doing more than start its worker (copy it); set_timed_out renamed",
    ),
    Internal(
        f"{_ASL}.component.state.exec.execute_state.Thread",
        "always",
        replaces="the thread class moto runs a Task with TimeoutSeconds in",
        why="execution_clock.ClockedThread: the Task's thread adds its recorded time to its execution clock",
        breaks_on_upgrade="the Task run in a thread made otherwise (its timeouts no longer count)",
    ),
    Internal(
        f"{_ASL}.component.state.fail.state_fail.CustomErrorName",
        "always",
        replaces="the error name a Fail state builds from its ErrorPath, which refuses a name starting "
        "'States.' (a rule for the names a definition declares, not for an error passed on)",
        why="the workflow's Failed state passes on the failed step's error, maybe States.Timeout: moto "
        "ended such an execution with States.Runtime after it had been dead-lettered; ReportedErrorName",
        breaks_on_upgrade="moto accepting it itself (drop the row); CustomErrorName's base class",
    ),
    Internal(
        "moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker._get_evaluation_entrypoint",
        "fast",
        replaces="the ANTLR parse of the definition at the start of every execution",
        why="parsed_program: once per definition, shared; an execution's state is in its own Environment",
        breaks_on_upgrade="components that keep state, or heap keys not made lazily (executions interfere)",
    ),
    *_each(
        (f"{module}.copy" for module in _DEEPCOPY_USERS),
        "fast",
        replaces="the copy module: deepcopy of every state input, output, payload and history event",
        why="json_deepcopy: the same copy, shared sub-objects included, by a pickle round trip",
        breaks="deepcopy imported by name, or copies in a module not listed (slow again, not wrong)",
    ),
    *_each(
        (f"{module}.parse" for module in _JSONPATH_USERS),
        "fast",
        replaces="jsonpath_ng's parse, which builds a PLY parser for every path it evaluates",
        why="remembered per path: parsed paths hold no state (find and update_or_create only read)",
        breaks="parse imported by another name (slow again); parsed paths that keep state (wrong)",
    ),
    Internal(
        "moto.stepfunctions.parser.backend.execution.BaseExecutionWorkerCommunication.terminated",
        "fast",
        replaces="the hook moto calls when an execution ends",
        why="it also tells LocalEngine.wait, which then describes the execution instead of polling",
        breaks_on_upgrade="the hook not called (wait re-checks every 0.25 s); execution.exec_arn renamed",
    ),
    *_each(
        (f"{module}.boto_client_for" for module in _CLIENT_USERS),
        "fast",
        replaces="moto's task client factory: a new boto3 session and client (models from JSON) per task",
        why="one client per (region, service), built as moto does, kept-alive pool; Lambda: the engine's "
        "runtime called in process, the Invoke API's answers without HTTP (lambda_runtime.direct_client)",
        breaks="moto building clients differently (moto_task_client copies it), or in another module",
    ),
    Internal(
        "moto.core.models.botocore_stubber.process_request",
        "fast",
        replaces="the match of every botocore request against the URL patterns of every moto backend",
        why="loopback requests (Lambda invokes, local Personalize) match none and go through anyway",
        breaks_on_upgrade="a pattern that matches loopback (checked at install: then nothing is skipped)",
    ),
    Internal(
        "moto.core.models.responses_mock._on_request",
        "fast",
        replaces="the same match for every requests call (Segment's library, the Profile API)",
        why="loopback requests go straight to responses' real send",
        breaks_on_upgrade="_on_request's or _real_send's signature; loopback no longer passed through",
    ),
    *(Internal(*row) for row in forgetting.PATCHES),  # LocalEngine.forget's: see forgetting.py
)

#: Internals read in process instead of calling the API (and the list LocalEngine.forget takes from).
READS: tuple[Internal, ...] = (
    Internal(
        "moto.stepfunctions.responses.StepFunctionResponse.describe_execution",
        "fast",
        replaces="the DescribeExecution call of LocalEngine.describe and LocalEngine.wait",
        why="no model-driven serializer, signing, HTTP; botocore's parser gives the client's value",
        breaks_on_upgrade="the responder's _get_param or result; TimestampSerializer; botocore _parse_shape",
    ),
    Internal(
        "moto.stepfunctions.responses.StepFunctionResponse.get_execution_history",
        "fast",
        replaces="the GetExecutionHistory pages of LocalEngine.history",
        why="as DescribeExecution: the same events, without serializing, signing and HTTP per page",
        breaks_on_upgrade="as DescribeExecution",
    ),
    *(Internal(*row) for row in forgetting.READS),  # LocalEngine.forget's: see forgetting.py
    Internal(
        "moto.sqs.models.Queue._messages",
        "always",
        replaces="ReceiveMessage of the dead-letter queue in LocalEngine.dead_letters",
        why="the messages are read without being received (no visibility timeout, no receive count)",
        breaks_on_upgrade="the queue's messages kept under another name, or SQSBackend.get_queue renamed",
    ),
)
_LABELLED = frozenset(patch.target for patch in PATCHES)
_ABSENT = object()  # what an instance attribute that shadows its class's method is saved as
_LOOPBACK = ("http://127.0.0.1:", "http://localhost:")
_SNAKE = {"DescribeExecution": "describe_execution", "GetExecutionHistory": "get_execution_history"}


class MotoPatches:
    """Installs the rows of :data:`PATCHES` whose switch is on, and uninstalls them all; one per open engine.

    Install once moto's mock runs (the loopback rows read its state). Task clients are dropped on uninstall:
    they bind endpoints (the invoke server's port) and moto's interception state when they are built.
    """

    def __init__(
        self,
        *,
        skip_retry_waits: bool,
        fast: bool,
        record_retry_wait: Callable[[float], None],
        record_sdk_retry_wait: Callable[[float], None],
        on_terminated: Callable[[str], None],
        forgotten: Callable[[str], bool] = lambda _: False,
        lambda_client: Any = None,
        execution_limit: Callable[[], float | None] = lambda: None,
        on_program_end: Callable[[Any, ExecutionClock], None] = lambda env, clock: None,
    ) -> None:
        """``lambda_client``: what moto's Lambda tasks get as their client with ``fast`` (None: a boto3
        client of the Invoke API server). ``execution_limit()``: the seconds an execution may run
        (:mod:`~local_stack.stepfunctions.execution_clock`), ``on_program_end`` is told each one's clock."""
        self._execution_limit, self._on_program_end = execution_limit, on_program_end
        self.skip_retry_waits = skip_retry_waits
        self._forgotten = forgotten
        self._lambda_client = lambda_client
        self.fast = fast
        self._record_retry_wait = record_retry_wait
        self._record_sdk_retry_wait = record_sdk_retry_wait
        self._on_terminated = on_terminated
        self._saved: list[tuple[str, Any, str, Any]] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()

    @property
    def installed(self) -> list[str]:
        """The targets replaced now, in the order they were replaced."""
        return [target for target, *_ in self._saved]

    def install(self) -> None:
        """Replace the targets of the switches that are on, and the ``always`` ones."""
        for target, value in forgetting.replacements(self._forgotten):
            self._replace(target, value)
        target = f"{_TASK}.state_task_lambda.StateTaskLambda._from_error"
        self._replace(target, lambda_service_errors(pkgutil.resolve_name(target)))
        self._replace(f"{_ASL}.component.state.exec.execute_state.Thread", ClockedThread)
        self._replace(f"{_ASL}.component.state.fail.state_fail.CustomErrorName", reported_error_name())
        program = f"{_ASL}.component.program.program.Program.eval"
        self._replace(
            program, timed_eval(pkgutil.resolve_name(program), self._execution_limit, self._on_program_end)
        )
        if self.skip_retry_waits:
            self._replace(
                f"{_ASL}.component.common.retry.retrier_decl.time", RecordingTime(self._record_retry_wait)
            )
            self._replace("botocore.endpoint.time", RecordingTime(self._record_sdk_retry_wait))
        if self.fast:
            self._install_speedups()

    def _install_speedups(self) -> None:
        self._replace(
            "moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker._get_evaluation_entrypoint",
            evaluation_entrypoint,
        )
        for module in _DEEPCOPY_USERS:
            self._replace(f"{module}.copy", FastCopyModule())
        for module in _JSONPATH_USERS:
            parse = f"{module}.parse"
            self._replace(parse, cached_jsonpath_parser(pkgutil.resolve_name(parse)))
        terminated = "moto.stepfunctions.parser.backend.execution.BaseExecutionWorkerCommunication.terminated"
        self._replace(terminated, self._terminated_hook(pkgutil.resolve_name(terminated)))
        for module in _CLIENT_USERS:
            self._replace(f"{module}.boto_client_for", self.client_for)
        self._pass_loopback_through()

    def _terminated_hook(self, moto_terminated: Callable[[Any], None]) -> Callable[[Any], None]:
        on_terminated = self._on_terminated

        def terminated(communication: Any) -> None:
            moto_terminated(communication)
            on_terminated(communication.execution.exec_arn)

        return terminated

    def _pass_loopback_through(self) -> None:
        """Requests to loopback skip moto's URL matching (see :data:`PATCHES`), unless a moto URL pattern
        or ``responses`` registration would answer one: then they are matched as before."""
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

        self._replace("moto.core.models.botocore_stubber.process_request", process_request)
        registered = [*responses_mock.registered()]
        passed_through = any(
            isinstance(prefix, str) and sample.startswith(prefix)
            for prefix in responses_mock.passthru_prefixes
        )
        if not passed_through or any(url_pattern_matches(response, sample) for response in registered):
            return
        moto_on_request = responses_mock._on_request

        def on_request(adapter: Any, request: Any, *, retries: Any = None, **kwargs: Any) -> Any:
            if str(request.url).startswith(_LOOPBACK):
                return responses_mock._real_send(adapter, request, **kwargs)  # type: ignore[call-arg]
            return moto_on_request(adapter, request, retries=retries, **kwargs)

        self._replace("moto.core.models.responses_mock._on_request", on_request)

    def _replace(self, target: str, value: Any) -> None:
        """Set the attribute ``target`` (a row of :data:`PATCHES`) to ``value`` until :meth:`uninstall`."""
        if target not in _LABELLED:
            raise ValueError(
                f"{target} is not a row of moto_patches.PATCHES: label a patch before installing it"
            )
        owner_path, name = target.rsplit(".", 1)
        owner = pkgutil.resolve_name(owner_path)
        self._saved.append((target, owner, name, vars(owner).get(name, _ABSENT)))
        setattr(owner, name, value)

    def uninstall(self) -> None:
        """Put back every replaced attribute, latest first; close the task clients."""
        for _, owner, name, value in reversed(self._saved):
            if value is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        self._saved.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def client_for(self, region: str, service: str, state_credentials: Any = None) -> Any:
        """moto's ``boto_client_for``, built once per (region, service); credentials are unused there too."""
        if service == "lambda" and self._lambda_client is not None:
            return self._lambda_client
        key = (region, service)
        client = self._clients.get(key)
        if client is None:
            with self._clients_lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = moto_task_client(region, service)
        return client

    def read(self, client: Any, operation: str, execution_arn: str, account: str, region: str) -> Any:
        """DescribeExecution or GetExecutionHistory answered in process (:data:`READS`): moto's own response
        method, then JSON and botocore's parser for the output shape, as the client call would. None when
        the speed-ups are off or moto raises (the API call then raises the proper ClientError)."""
        if not self.fast:
            return None
        from moto.stepfunctions.responses import StepFunctionResponse

        responder = StepFunctionResponse()
        responder.current_account, responder.region = account, region
        responder._get_param = lambda name, *default: execution_arn if name == "executionArn" else None  # type: ignore[method-assign]
        try:
            result = getattr(responder, _SNAKE[operation])().result
        except Exception:  # noqa: BLE001 - ExecutionDoesNotExist & co: the API call raises them properly
            return None
        shape = client.meta.service_model.operation_model(operation).output_shape
        body = json.dumps(result, default=moto_json_value)
        return self._parser._parse_shape(shape, json.loads(body))

    @functools.cached_property
    def _parser(self) -> Any:
        from botocore.parsers import ResponseParserFactory

        parser: Any = ResponseParserFactory().create_parser("json")
        parser._timestamp_parser = client_timestamp
        return parser


def queued_message_bodies(account: str, region: str, queue_name: str) -> list[str]:
    """The bodies of a moto SQS queue's messages, oldest first, without receiving them (:data:`READS`)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[account][region].get_queue(queue_name)
    return [message.body for message in list(queue._messages)]
