"""``segment-personalize run``: generate seeded Segment traffic, run it through the workflow on the local
stack, print the totals and an execution to step through."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TextIO

from cli.replay import replay_with_progress
from cli.summary import Summary, print_summary
from local_stack.stack import LocalStack
from local_stack.traffic import generate


def command(args: argparse.Namespace, out: TextIO) -> int:
    traffic = generate(
        args.seed, users=args.users, anonymous=args.anonymous, sessions_per_visitor=args.sessions
    )
    print(
        f"generated {len(traffic.messages)} Segment messages (seed {args.seed}): {args.users} known users, "
        f"{args.anonymous} anonymous visitors, {len(traffic.catalog)} products, "
        f"{traffic.malformed} malformed",
        file=sys.stderr,
    )
    started = time.monotonic()
    summary, example = Summary(), None
    with LocalStack(args.data_dir, items=traffic.items_catalog()) as stack:
        lines = replay_with_progress(stack, traffic.messages, not args.no_progress, len(traffic.messages))
        for outcome in lines:
            summary.add(outcome)
            if example is None and outcome.synced:
                example = outcome.executionName
        elapsed = time.monotonic() - started
        if args.json:
            print(
                json.dumps({"summary": summary.as_json(), "seconds": round(elapsed, 1)}, indent=2), file=out
            )
        else:
            print(
                f"\nran {summary.accepted} executions in {elapsed:.1f} s; state in {args.data_dir}/\n",
                file=out,
            )
            print_summary(summary, stack, out)
            if example:
                print(
                    f"\nstep through one: segment-personalize trace {example} --data-dir {args.data_dir}",
                    file=out,
                )
    return 0 if summary.messages else 1
