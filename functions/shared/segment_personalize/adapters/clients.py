"""AWS clients and secrets, built once per cold start.

botocore honours the standard ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` variables
(``AWS_ENDPOINT_URL_PERSONALIZE_EVENTS``, ``..._PERSONALIZE_RUNTIME``, ``..._SFN``, ``..._SECRETS_MANAGER``),
which is how the local stack points unmodified clients at itself. Retries inside the SDK are kept short:
the state machine owns retries, with backoff and jitter that show in the execution history.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from segment_personalize.errors import ConfigurationError

#: Two attempts in all (one quick SDK retry for connection blips); everything else is the state machine's
#: job. Worst case 2 x (2 s + 5 s) = 14 s, inside the steps' 15 s Lambda timeout, so a hung call fails as
#: a named, retried error rather than as a Lambda timeout. (botocore's ``max_attempts`` counts retries;
#: ``total_max_attempts`` counts every attempt.)
STEP_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 2},
    tcp_keepalive=True,
)

#: The entry function answers Segment within its 5 s invoke timeout: 2 x (1 s + 1 s) = 4 s at worst;
#: StartExecution answers in tens of milliseconds.
ENTRY_CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=1,
    retries={"mode": "standard", "total_max_attempts": 2},
    tcp_keepalive=True,
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


def client(service: str, config: Config = STEP_CLIENT_CONFIG, *, read_timeout: float | None = None) -> Any:
    """A boto3 client for ``service`` with this project's timeouts and retry policy (``read_timeout`` in
    seconds replaces the policy's)."""
    if read_timeout is not None:
        config = config.merge(Config(read_timeout=read_timeout))
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
