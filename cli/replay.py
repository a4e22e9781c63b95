"""``segment-personalize replay FILE``: run your own Segment export (JSON Lines) through the workflow on the
local stack and print what became of each message."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from tqdm import tqdm

from cli.summary import Summary, print_summary
from local_stack.destination import read_jsonl, replay
from local_stack.run_store import Outcome
from local_stack.stack import LocalStack


def replay_with_progress(stack: LocalStack, messages: list[Any], show_progress: bool) -> list[Outcome]:
    """:func:`local_stack.destination.replay` with a progress bar on standard error."""
    bar = tqdm(
        total=len(messages), unit="msg", disable=not show_progress, file=sys.stderr, dynamic_ncols=True
    )
    with bar:
        return replay(stack, messages, progress=bar.update)


def command(args: argparse.Namespace, out: TextIO) -> int:
    messages = read_jsonl(args.file)
    with LocalStack(args.data_dir) as stack:
        outcomes = replay_with_progress(stack, messages, not args.no_progress and not args.json)
        summary = Summary.of(outcomes)
        if args.json:
            print(
                json.dumps(
                    {"records": [o.as_json() for o in outcomes], "totals": summary.as_json()}, indent=2
                ),
                file=out,
            )
        else:
            print_summary(summary, stack, out)
    return 0
