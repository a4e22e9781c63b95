"""AWS clients and secrets, built once per cold start.

botocore honours the standard ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` variables
(``AWS_ENDPOINT_URL_PERSONALIZE_EVENTS``, ``..._PERSONALIZE_RUNTIME``, ``..._SFN``, ``..._SECRETS_MANAGER``),
which is how the local stack points unmodified clients at itself. Retries inside the SDK are kept short:
the state machine owns retries, with backoff and jitter that show in the execution history.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from segment_personalize.errors import ConfigurationError

#: One quick SDK retry for connection blips; everything else is the state machine's job.
STEP_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 2},
    tcp_keepalive=True,
)

#: The entry function answers Segment within its 5 s invoke timeout.
ENTRY_CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "max_attempts": 3},
    tcp_keepalive=True,
)


def client(service: str, config: Config = STEP_CLIENT_CONFIG) -> Any:
    """A boto3 client for ``service`` with this project's timeouts and retry policy."""
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def secret_or_value(value: str | None, secret_arn: str | None, setting: str) -> str:
    """The literal ``value`` when set, else the SecretString of ``secret_arn`` (fetched once, cached)."""
    if value:
        return value
    if not secret_arn:
        raise ConfigurationError(f"{setting} is required but not set")
    from aws_lambda_powertools.utilities.parameters import get_secret

    try:
        secret = get_secret(secret_arn, max_age=300)
    except Exception as error:  # noqa: BLE001 - any failure here is a deployment problem
        raise ConfigurationError(f"{setting}_SECRET_ARN could not be read: {type(error).__name__}") from error
    if not isinstance(secret, str) or not secret:
        raise ConfigurationError(f"{setting}_SECRET_ARN holds no SecretString")
    return secret
