"""The line ``make run`` prints to step through an execution works as printed, with the installed command
(marker ``e2e``). Apart from test_run.py, whose module fixture keeps a stack open."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import cli.main as cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_the_trace_line_make_run_prints_works_as_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a small run
    data_dir = tmp_path / "data"
    argv = ["--data-dir", str(data_dir), "run", "--seed", "3", "--users", "2", "--anonymous", "1"]
    assert cli.main([*argv, "--sessions", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    line = next(text for text in printed.splitlines() if text.startswith("step through one: "))
    command = shlex.split(line.removeprefix("step through one: "))
    assert command[:2] == ["segment-personalize", "trace"]
    assert command[-2:] == ["--data-dir", str(data_dir)]  # the option after the command
    # when it runs as printed, with the installed command
    script = Path(sys.executable).parent / command[0]
    result = subprocess.run(  # noqa: S603 - the project's own command, as the run printed it
        [str(script), *command[1:]], capture_output=True, text=True, timeout=120, check=False
    )
    # then it steps through that execution
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"execution {command[2]}: SUCCEEDED\n")
    assert ". SyncProfile (Task)" in result.stdout
