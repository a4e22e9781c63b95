"""AWS clients and secrets, built once per cold start.

botocore honours the standard ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` variables
(``AWS_ENDPOINT_URL_PERSONALIZE_EVENTS``, ``..._PERSONALIZE_RUNTIME``, ``..._SFN``, ``..._SECRETS_MANAGER``),
which is how the local stack points unmodified clients at itself. How long each call may take is a
:class:`CallTiming`; the step functions make one attempt, the state machine owns retries.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import boto3
from botocore.config import Config

from segment_personalize.errors import ConfigurationError


@dataclass(frozen=True)
class CallTiming:
    """How long one call to a service may take: connect and read timeouts (seconds) and attempts in all.

    The step functions make one attempt: the state machine owns retries, with backoff and jitter that show in
    the execution history. Each function's calls must fit its Lambda timeout at worst (:data:`UNIT_OF_WORK`,
    checked by ``tests/iac/test_budget.py``), so that a hung call fails as a named, retried error rather than
    as a Lambda timeout.
    """

    connect: float
    read: float
    attempts: int = 1

    def worst_case_seconds(self) -> float:
        """Every attempt to both timeouts, and the longest SDK wait before each retry: botocore's standard
        mode waits ``random() x 2^(n-1)`` s (at most 20 s) before retry n
        (``botocore.retries.standard.ExponentialBackoff``)."""
        waits = sum(min(20.0, 2.0**retry) for retry in range(self.attempts - 1))
        return self.attempts * (self.connect + self.read) + waits

    def with_read(self, read: float) -> CallTiming:
        """The same call with another read timeout (a setting such as PERSONALIZE_TIMEOUT)."""
        return replace(self, read=read)

    def boto_config(self) -> Config:
        """The botocore configuration of a client making this call (``total_max_attempts`` counts every
        attempt, ``max_attempts`` only the retries)."""
        return Config(
            connect_timeout=self.connect,
            read_timeout=self.read,
            retries={"mode": "standard", "total_max_attempts": self.attempts},
            tcp_keepalive=True,
        )

    def requests_timeout(self) -> tuple[float, float]:
        """``timeout=`` of a requests call: (connect, read); a single number would bound each of them."""
        return (self.connect, self.read)


#: The idempotency table (DynamoDB answers in single-digit milliseconds).
DYNAMODB_CALL = CallTiming(connect=0.5, read=0.5)
#: PutEvents and GetRecommendations; the read timeout is the PERSONALIZE_TIMEOUT setting.
PERSONALIZE_CALL = CallTiming(connect=1.0, read=2.0)
#: Segment's Profile API (SEGMENT_PROFILE_API_TIMEOUT) and tracking API (SEGMENT_TIMEOUT).
SEGMENT_CALL = CallTiming(connect=1.0, read=2.0)
#: The entry function answers Segment within its 5 s invoke timeout: StartExecution (or the dead-letter
#: SendMessage of input that can never succeed) with one quick SDK retry, 2 x 1.5 s + 1 s = 4 s at worst.
ENTRY_CALL = CallTiming(connect=0.5, read=1.0, attempts=2)

#: The calls each function makes, in order, for one unit of its work at worst: the entry function's one
#: StartExecution or SendMessage per message; one PutEvents batch of Track (idempotency record written, the
#: call, the record completed); the one identify of SyncProfile likewise. A setting that sets a read timeout
#: is named after the call: (timing, setting).
UNIT_OF_WORK: dict[str, tuple[tuple[CallTiming, str | None], ...]] = {
    "entry": ((ENTRY_CALL, None),),
    "validate": (),
    "track": ((DYNAMODB_CALL, None), (PERSONALIZE_CALL, "PERSONALIZE_TIMEOUT"), (DYNAMODB_CALL, None)),
    "recommend": ((PERSONALIZE_CALL, "PERSONALIZE_TIMEOUT"),),
    "filter_traits": ((SEGMENT_CALL, "SEGMENT_PROFILE_API_TIMEOUT"),),
    "sync_profile": ((DYNAMODB_CALL, None), (SEGMENT_CALL, "SEGMENT_TIMEOUT"), (DYNAMODB_CALL, None)),
}


def unit_of_work_seconds(function: str, settings: Mapping[str, float]) -> float:
    """The worst case of one unit of ``function``'s work with these read-timeout settings (alias -> s)."""
    return sum(
        (timing.with_read(settings[setting]) if setting else timing).worst_case_seconds()
        for timing, setting in UNIT_OF_WORK[function]
    )


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def session() -> boto3.session.Session:
    """The process's one boto3 session, made on first use.

    A session costs ~50 ms to make (botocore registers and checks ~140 event handlers) and loads the
    endpoint data and service models it needs once; every client of a function shares it. Settings are
    still read from the environment when each client is made (region, ``AWS_ENDPOINT_URL_<SERVICE>``).
    """
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session


def client(service: str, timing: CallTiming = DYNAMODB_CALL) -> Any:
    """A boto3 client for ``service`` whose calls keep to ``timing``."""
    config = timing.boto_config()
    made = session()
    with _session_lock:  # a session is not thread safe; the clients it makes are
        return made.client(service, config=config)  # type: ignore[call-overload]


def secret_or_value(value: str | None, secret_arn: str | None, setting: str) -> str:
    """The literal ``value`` when set, else the SecretString of ``secret_arn`` (fetched once, cached)."""
    if value:
        return value
    if not secret_arn:
        raise ConfigurationError(f"{setting} is required but not set")
    from aws_lambda_powertools.utilities.parameters import get_secret

    try:
        secret = get_secret(secret_arn, max_age=300)
    except Exception as error:
        raise ConfigurationError(f"{setting}_SECRET_ARN could not be read: {type(error).__name__}") from error
    if not isinstance(secret, str) or not secret:
        raise ConfigurationError(f"{setting}_SECRET_ARN holds no SecretString")
    return secret
