"""``segment-personalize trace EXECUTION``: step through one execution of the last local run, state by state.

The console shows, for each state, its input, its output, each attempt and its error;
:func:`state_machines.history.steps` reads the same from the events of GetExecutionHistory (moto's, or a
real one exported with the AWS CLI) and :func:`render` prints it for a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from local_stack.run_store import RunStore
from state_machines.history import steps


def render(name: str, status: str, history: list[dict[str, Any]], width: int = 110) -> str:
    """A readable step-through for a terminal."""

    def short(value: Any) -> str:
        if isinstance(value, dict):  # the header names the execution; its messageId is in every payload
            value = {k: v for k, v in value.items() if k != "messageId"}
        text = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = [f"execution {name}: {status}"]
    for index, step in enumerate(steps(history), 1):
        retries = f", {step.retries} retr{'y' if step.retries == 1 else 'ies'}" if step.retries else ""
        lines.append(f"{index:>2}. {step.name} ({step.type}{retries})")
        if step.type in ("Task", "Pass") or index == 1:
            lines.append(f"      input:  {short(step.input)}")
        for attempt_number, attempt in enumerate(step.attempts, 1):
            if attempt.outcome != "ok":
                lines.append(
                    f"      attempt {attempt_number}: {attempt.outcome}: {attempt.cause or ''}".rstrip()
                )
        if step.output is not None and step.type in ("Task", "Pass", "Succeed"):
            lines.append(f"      output: {short(step.output)}")
        if step.error:
            lines.append(f"      error:  {step.error}: {step.cause or ''}".rstrip())
    return "\n".join(lines)


def command(args: argparse.Namespace, out: TextIO) -> int:
    path = Path(args.data_dir) / "runs.sqlite"
    if not path.exists():
        print(f"no runs recorded in {args.data_dir}/ (run `segment-personalize run` first)", file=sys.stderr)
        return 2
    store = RunStore(path)
    try:
        record = store.execution(args.execution)
    finally:
        store.close()
    if record is None:
        print(f"no execution named {args.execution!r} (name, ARN or messageId) in {path}", file=sys.stderr)
        return 2
    if args.json:
        payload = {
            "name": record.name,
            "arn": record.arn,
            "status": record.status,
            "error": record.error,
            "states": [step.as_json() for step in steps(record.history)],
        }
        print(json.dumps(payload, indent=2, default=str), file=out)
    else:
        print(render(record.name, record.status, record.history), file=out)
    return 0
