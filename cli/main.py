"""``segment-personalize``: run the workflow on the local stack, replay an export, trace an execution, serve,
soak it with faults; redrive a dead-letter queue.

Everything but ``redrive`` runs in this process on loopback; no AWS account is needed. ``redrive`` talks to
whatever boto3's usual configuration points at: AWS, or ``serve`` through ``AWS_ENDPOINT_URL``. See
``segment-personalize --help``.

Each command is a module of this package, ``cli.<command>``, with a ``command(args, out)`` function; it is
imported only when it runs, so ``redrive`` needs boto3 and not the local stack. ``out`` is standard output as
the command started: the local stack runs the functions in this process and sends what they print to
``functions.log`` while they run, which must not take the command's own output with it.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import sys
from collections.abc import Callable

DEFAULT_DATA_DIR = ".data"


def quiet_logging() -> None:
    """The functions log JSON lines at INFO in AWS; on a terminal the summary is what matters."""
    logging.getLogger().setLevel(logging.WARNING)
    for noisy in ("botocore", "urllib3", "moto", "segment", "backoff", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _main_options(parser: argparse.ArgumentParser, default: object) -> None:
    """The options of the main parser, given to each command too, so that they work before or after it."""
    parser.add_argument("--data-dir", default=default, help="folder for the SQLite state (default .data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segment-personalize",
        description="Segment -> Step Functions -> Amazon Personalize -> Segment profiles, on a local stack.",
    )
    _main_options(parser, DEFAULT_DATA_DIR)
    # after the command, the same options; SUPPRESS: absent there, they keep what the main parser set
    main_options = argparse.ArgumentParser(add_help=False)
    _main_options(main_options, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    _commands(functools.partial(commands.add_parser, parents=[main_options]))
    return parser


def _commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Every command and its options."""
    run = add("run", help="generate Segment traffic and run it through the workflow")
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--users", type=int, default=16, help="known users")
    run.add_argument("--anonymous", type=int, default=6, help="anonymous visitors")
    run.add_argument("--sessions", type=int, default=3, help="sessions per visitor")
    run.add_argument("--json", action="store_true", help="print the totals as JSON")
    run.add_argument("--no-progress", action="store_true")

    replay = add("replay", help="run your own Segment export (one message per line)")
    replay.add_argument(
        "file", help="a JSON Lines file of Segment messages, gzipped or not; - for standard input"
    )
    replay.add_argument(
        "--json", action="store_true", help="one JSON line per input line as it finishes, then the totals"
    )
    replay.add_argument("--no-progress", action="store_true")

    trace = add("trace", help="step through one execution of the last run, state by state")
    trace.add_argument("execution", help="execution name, ARN or Segment messageId")
    trace.add_argument("--json", action="store_true")

    serve = add("serve", help="keep the local stack up and print its endpoints")
    serve.add_argument("--moto-port", type=int, default=5000)
    serve.add_argument("--keep-data", action="store_true", help="keep the data folder's state")

    soak = add(
        "soak",
        help="deliver generated traffic twice with faults on, redrive the dead letters, check nothing is "
        "lost or tracked twice",
    )
    soak.add_argument("--events", type=int, default=500, help="Segment messages (each delivered twice)")
    soak.add_argument("--seconds", type=float, default=300.0, help="time budget for the deliveries")
    soak.add_argument("--seed", type=int, default=11)
    soak.add_argument("--workflow", choices=("standard", "express", "both"), default="both")
    soak.add_argument("--json", action="store_true", help="also print the figures as JSON")
    soak.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    redrive = add(
        "redrive",
        help="start a new execution for each event of the dead-letter queue (AWS, or AWS_ENDPOINT_URL)",
    )
    redrive.add_argument("--queue-url", required=True, help="the stack's DeadLetterQueueUrl output")
    redrive.add_argument("--state-machine-arn", required=True, help="the stack's StateMachineArn output")
    redrive.add_argument("--max", type=int, default=100, help="dead letters to take at most (default 100)")
    redrive.add_argument("--dry-run", action="store_true", help="start and delete nothing; list what would")
    redrive.add_argument("--wait-seconds", type=int, default=2, help="SQS long-poll wait of each receive")
    redrive.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.data_dir = str(args.data_dir)
    quiet_logging()
    try:
        command_module = importlib.import_module(f"cli.{args.command}")
        return int(command_module.command(args, sys.stdout))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
