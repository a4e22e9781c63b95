"""``segment-personalize soak``: every message delivered twice with faults on, then a redrive; prints the
figures of each workflow type and exits 1 when one is not what it must be (``make soak``): anything lost,
tracked twice or wrong, a valid message rejected or never let in, a redelivery the STANDARD name dedupe let
through, an identify that never reached Segment or reached it again unexplained, a synced profile without
its last decided trait, a dead letter the redrive left that should have gone (docs/soak.md)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import TextIO

from soak.harness import WORKFLOW_TYPES, soak


def command(args: argparse.Namespace, out: TextIO) -> int:
    # a step that fails before it counts anything flushes no metrics; Powertools warns on each such invoke
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    workflows = WORKFLOW_TYPES if args.workflow == "both" else (args.workflow.upper(),)
    progress = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    results = soak(
        workflows,
        events=args.events,
        seconds=args.seconds,
        seed=args.seed,
        data_dir=Path(args.data_dir) / "soak",
        out=out,
        progress=progress,
    )
    if args.json:
        print(json.dumps([result.as_json() for result in results], indent=2), file=out)
    return 0 if all(result.ok for result in results) else 1
