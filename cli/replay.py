"""``segment-personalize replay FILE``: run your own Segment export (JSON Lines, gzipped or not, or ``-`` for
standard input) through the workflow on the local stack and print what became of each message.

It streams: lines are read as they are sent, each outcome is counted (and with ``--json`` printed) as it
is known, and what the run records goes to the data folder, so memory does not grow with the export.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tqdm import tqdm

from cli.summary import Summary, print_summary
from local_stack.destination import read_jsonl, replay_lazily
from local_stack.run_store import Outcome
from local_stack.stack import LocalStack


def replay_with_progress(
    stack: LocalStack, messages: Iterable[Any], show_progress: bool, total: int | None = None
) -> Iterator[Outcome]:
    """:func:`local_stack.destination.replay_lazily` with a progress bar on standard error (``total`` lines
    when known)."""
    bar = tqdm(total=total, unit="msg", disable=not show_progress, file=sys.stderr, dynamic_ncols=True)
    with bar:
        yield from replay_lazily(stack, messages, progress=bar.update)


def command(args: argparse.Namespace, out: TextIO) -> int:
    messages = read_jsonl(args.file)
    summary = Summary()
    with LocalStack(args.data_dir) as stack:
        for outcome in replay_with_progress(stack, messages, not args.no_progress and not args.json):
            summary.add(outcome)
            if args.json:  # one record a line, as each line's outcome is known
                print(json.dumps(outcome.as_json()), file=out, flush=True)
        if args.json:
            print(json.dumps({"totals": summary.as_json()}), file=out)
        else:
            print_summary(summary, stack, out)
    return 0
