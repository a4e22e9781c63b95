"""Clients and secrets: how long a call may take, and what a secret that cannot be read becomes."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError
from moto import mock_aws

from segment_personalize.adapters import clients
from segment_personalize.adapters.clients import CallTiming, secret_or_value, unit_of_work_seconds
from segment_personalize.errors import ConfigurationError, PermissionDenied

pytestmark = pytest.mark.unit


def test_a_calls_worst_case_is_every_attempt_at_both_timeouts_and_the_sdks_longest_waits() -> None:
    assert CallTiming(connect=1.0, read=2.0).worst_case_seconds() == 3.0
    # botocore's standard mode waits at most 1 s, then 2 s, before its first and second retries
    assert CallTiming(connect=0.5, read=1.0, attempts=3).worst_case_seconds() == 3 * 1.5 + 1 + 2
    config: Any = CallTiming(connect=0.5, read=1.0, attempts=2).boto_config()  # botocore's Config is untyped
    assert (config.connect_timeout, config.read_timeout) == (0.5, 1.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert CallTiming(connect=1.0, read=2.5).requests_timeout() == (1.0, 2.5)


def test_a_unit_of_work_adds_its_calls_at_the_given_read_timeouts() -> None:
    # Track's batch: the idempotency record (1 s), PutEvents (1 s to connect, the setting to read), the record
    assert unit_of_work_seconds("track", {"PERSONALIZE_TIMEOUT": 3.0}) == 1.0 + 4.0 + 1.0
    assert unit_of_work_seconds("validate", {}) == 0


def test_a_secret_is_read_once_by_its_arn() -> None:
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(Name="k", SecretString="s3cret")["ARN"]
        assert secret_or_value(None, arn, "SEGMENT_WRITE_KEY") == "s3cret"
    assert secret_or_value("literal", None, "SEGMENT_WRITE_KEY") == "literal"
    with pytest.raises(ConfigurationError, match="SEGMENT_WRITE_KEY is required but not set"):
        secret_or_value(None, None, "SEGMENT_WRITE_KEY")


def test_a_secret_the_role_may_not_read_names_the_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(arn: str, max_age: int) -> str:
        error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetSecretValue")
        raise GetParameterError(str(error)) from error

    monkeypatch.setattr("aws_lambda_powertools.utilities.parameters.get_secret", denied)
    with pytest.raises(
        PermissionDenied, match="secretsmanager:GetSecretValue on SEGMENT_WRITE_KEY_SECRET_ARN"
    ):
        secret_or_value(None, "arn:aws:secretsmanager:us-east-1:123456789012:secret:k", "SEGMENT_WRITE_KEY")
    assert clients._client_error_code(ValueError()) == ""
