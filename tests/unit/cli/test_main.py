"""The command line's parser: every option of the main parser works before or after the command, and the
line ``make run`` prints to step through an execution parses as it reads."""

from __future__ import annotations

import argparse
import shlex

import pytest

from cli.main import DEFAULT_DATA_DIR, build_parser

pytestmark = pytest.mark.unit

#: The smallest valid arguments of each command.
COMMANDS = {
    "run": [],
    "replay": ["export.jsonl"],
    "trace": ["ajs-1"],
    "serve": [],
    "soak": [],
    "redrive": ["--queue-url", "https://q", "--state-machine-arn", "arn:aws:states:x"],
}


def _main_options() -> list[argparse.Action]:
    """The main parser's options (not its help, not the commands)."""
    parser = build_parser()
    return [
        action
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


def test_every_command_is_listed_here() -> None:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_main_option_works_before_and_after_each_command(command: str) -> None:
    options = _main_options()
    assert [action.dest for action in options] == ["data_dir"]  # the main parser's options, all tested
    parser = build_parser()
    for action in options:
        flag = action.option_strings[0]
        before = parser.parse_args([flag, "/tmp/before", command, *COMMANDS[command]])
        after = parser.parse_args([command, *COMMANDS[command], flag, "/tmp/after"])
        neither = parser.parse_args([command, *COMMANDS[command]])
        assert getattr(before, action.dest) == "/tmp/before"
        assert getattr(after, action.dest) == "/tmp/after"
        assert getattr(neither, action.dest) == action.default == DEFAULT_DATA_DIR
        # after the command it wins over before it, as the last of a repeated option does
        both = parser.parse_args([flag, "/tmp/before", command, *COMMANDS[command], flag, "/tmp/after"])
        assert getattr(both, action.dest) == "/tmp/after"


def test_the_line_make_run_prints_parses_as_it_reads() -> None:
    # cli/run.py prints: step through one: segment-personalize trace NAME --data-dir DIR
    line = "segment-personalize trace ajs-next-a0506098-04d2-4e09-a0b5-58640cfff054 --data-dir .data"
    program, *argv = shlex.split(line)
    args = build_parser().parse_args(argv)
    assert program == build_parser().prog
    assert (args.command, args.execution, args.data_dir) == (
        "trace",
        "ajs-next-a0506098-04d2-4e09-a0b5-58640cfff054",
        ".data",
    )
    assert args.json is False


def test_replay_reads_standard_input_from_a_dash() -> None:
    args = build_parser().parse_args(["replay", "-", "--json", "--data-dir", "d"])
    assert (args.file, args.json, args.data_dir) == ("-", True, "d")
