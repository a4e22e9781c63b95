"""The replacements :class:`~local_stack.stepfunctions.moto_patches.MotoPatches` installs: each one's row in
:data:`~local_stack.stepfunctions.moto_patches.PATCHES` says what it replaces, why, and what an upgrade
breaks."""

from __future__ import annotations

import contextlib
import copy
import datetime
import enum
import functools
import time
from collections.abc import Callable
from typing import Any

from local_stack.stepfunctions.json_copy import json_deepcopy

#: Connections kept alive per task client: at least as many as executions run at once.
_TASK_POOL_CONNECTIONS = 128


def lambda_service_errors(moto_from_error: Callable[..., Any]) -> Callable[..., Any]:
    """``StateTaskLambda._from_error`` with a ClientError of the Lambda service named ``Lambda.<code>``,
    as Step Functions names it: "When Lambda exceeds the maximum number of invocations, the reported error
    will be ``Lambda.TooManyRequestsException``"
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). The cause is the
    service's message and response details, as moto's own Lambda service integration writes them."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_lambda,
    )

    def from_error(state: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return moto_from_error(state, env, ex)
        service_task = state_task_service_lambda.StateTaskServiceLambda
        error, cause = service_task._error_cause_from_client_error(ex)
        details: Any = {  # an EventDetails (a TypedDict of every kind of details, all optional)
            "lambdaFunctionFailedEventDetails": LambdaFunctionFailedEventDetails(error=error, cause=cause)
        }
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=details,
        )

    return from_error


def reported_error_name() -> type:
    """moto's CustomErrorName without its check of the prefix: any error a Fail state passes on."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName

    class ReportedErrorName(CustomErrorName):
        def __init__(self, error_name: str | None) -> None:
            ErrorName.__init__(self, error_name=error_name)

    return ReportedErrorName


class RecordingTime:
    """Stands in for the ``time`` module of moto's retrier and of botocore's endpoint: records each wait
    instead of sleeping it."""

    def __init__(self, record: Callable[[float], None]) -> None:
        self._record = record

    def sleep(self, seconds: float) -> None:
        self._record(float(seconds))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class FastCopyModule:
    """Stands in for the ``copy`` module in moto's interpreter modules: :func:`json_deepcopy` as deepcopy."""

    deepcopy = staticmethod(json_deepcopy)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def cached_jsonpath_parser(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` remembered per path: jsonpath_ng builds a PLY parser for every call, and its parsed paths
    hold no state (``find`` and ``update_or_create`` only read them)."""
    return functools.lru_cache(maxsize=1024)(parse)


def url_pattern_matches(response: Any, url: str) -> bool:
    """Whether a ``responses`` registration (moto's are compiled patterns) would answer ``url``."""
    pattern = getattr(response, "url", None)
    if isinstance(pattern, str):
        return url.startswith(pattern.split("?", 1)[0])
    return bool(pattern is not None and hasattr(pattern, "match") and pattern.match(url))


def moto_epoch(value: Any) -> Any:
    """A timestamp as moto's JSON serializer writes it: epoch seconds, truncated to milliseconds."""
    from botocore.utils import parse_to_aware_datetime
    from moto.core.serialize import TimestampSerializer

    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.datetime.fromisoformat(value)  # moto's history: 2026-11-01T09:00:00.123Z
    return TimestampSerializer._timestamp_unixtimestamp(parse_to_aware_datetime(value))


def client_timestamp(value: Any) -> Any:
    """What the client's parser makes of the timestamp moto would have written for ``value``."""
    from botocore.utils import parse_timestamp

    return parse_timestamp(moto_epoch(value))


def moto_json_value(value: Any) -> Any:
    """What moto's JSON serializer writes for values json cannot: epoch seconds (ms precision) for a
    datetime, the value of an enum."""
    if isinstance(value, datetime.datetime):
        return moto_epoch(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def moto_task_client(region: str, service: str) -> Any:
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
