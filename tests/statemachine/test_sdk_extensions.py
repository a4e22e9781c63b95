"""state_machines.sdk: the Data Science SDK imported quietly, with the ASL fields it lacks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from state_machines.sdk import Fail, Retry

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_retry_serialises_max_delay_and_jitter_after_the_sdks_own_fields() -> None:
    retry = Retry(
        error_equals=["PersonalizeThrottled"],
        interval_seconds=1,
        backoff_rate=2.0,
        max_attempts=4,
        max_delay_seconds=20,
        jitter_strategy="FULL",
    )
    assert retry.to_dict() == {
        "ErrorEquals": ["PersonalizeThrottled"],
        "IntervalSeconds": 1,
        "BackoffRate": 2.0,
        "MaxAttempts": 4,
        "MaxDelaySeconds": 20,
        "JitterStrategy": "FULL",
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"jitter_strategy": "HALF"},
        {"max_delay_seconds": 0},
        {"max_delay_seconds": 1.5},
        {"max_attempts_x": 1},
    ],
)
def test_retry_refuses_values_the_states_language_refuses(fields: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        Retry(error_equals=["States.ALL"], **fields)


def test_fail_takes_error_and_cause_from_paths() -> None:
    fail = Fail("Failed", comment="c", error_path="$.error.Error", cause_path="$.error.Cause")
    assert fail.to_dict() == {
        "Type": "Fail",
        "Comment": "c",
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }
    assert Fail("Stop", error="E", cause="C").to_dict() == {"Type": "Fail", "Error": "E", "Cause": "C"}


@pytest.mark.parametrize(
    "fields", [{"error": "E", "error_path": "$.e"}, {"cause": "C", "cause_path": "$.c"}, {"error_path": "e"}]
)
def test_fail_refuses_a_literal_and_a_path_together_or_a_path_without_dollar(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="path"):
        Fail("Failed", **fields)


@pytest.mark.timeout(60)
def test_importing_the_sdk_leaves_logging_and_stdout_alone() -> None:
    script = textwrap.dedent(
        """
        import logging, sys
        handler = logging.StreamHandler(sys.stderr)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        import state_machines.sdk
        root = logging.getLogger()
        assert root.level == logging.INFO, root.level
        assert root.handlers == [handler], root.handlers
        assert logging.root.manager.disable == logging.NOTSET
        """
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-W", "error::SyntaxWarning", "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{ROOT / 'functions' / 'shared'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "sagemaker" not in done.stderr.lower()
