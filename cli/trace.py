"""Read a Step Functions execution history state by state: the local step-through.

The console shows, for each state, its input, its output, each attempt and its error. :func:`steps` gives
the same from the events of GetExecutionHistory (moto's, or a real one exported with the AWS CLI).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from local_stack.run_store import RunStore


@dataclass
class Attempt:
    """One Lambda (or service) call of a Task state."""

    outcome: str  # "ok" or the Error name
    cause: str | None = None


@dataclass
class Step:
    """One state as the execution went through it."""

    name: str
    type: str
    input: Any = None
    output: Any = None
    attempts: list[Attempt] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None

    @property
    def retries(self) -> int:
        return max(0, len(self.attempts) - 1)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retries"] = self.retries
        return data


def _details(event: dict[str, Any]) -> dict[str, Any]:
    """The event's one ``...EventDetails`` object (empty when it has none)."""
    return next((v for k, v in event.items() if k.endswith("EventDetails")), {})


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def error_message(cause: str | None) -> str | None:
    """The errorMessage of a Lambda error Cause (a JSON string), else the cause itself."""
    parsed = _json(cause)
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return cause


def steps(history: list[dict[str, Any]]) -> list[Step]:
    """The states of an execution, in the order entered, with their attempts, input, output and error."""
    result: list[Step] = []
    current: Step | None = None
    for event in history:
        kind: str = event["type"]
        if kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            current = Step(details["name"], kind.removesuffix("StateEntered"), _json(details.get("input")))
            result.append(current)
        elif kind.endswith("StateExited") and current is not None:
            if current.type != "Task":  # a Task shows its own payload and result instead of the whole state
                current.output = _json(event["stateExitedEventDetails"].get("output"))
        elif current is None:
            continue
        elif kind.endswith("Scheduled"):
            details = _details(event)
            current.input = _json(details.get("input", details.get("parameters")))
        elif kind.endswith("Succeeded") and kind not in ("ExecutionSucceeded",):
            details = _details(event)
            current.attempts.append(Attempt("ok"))
            current.output = _json(details.get("output"))
        elif kind.endswith(("Failed", "TimedOut")) and not kind.startswith("Execution"):
            details = _details(event)
            error, cause = details.get("error"), details.get("cause")
            current.attempts.append(Attempt(error or kind, error_message(cause)))
            current.error, current.cause = error or kind, error_message(cause)
        elif kind == "ExecutionFailed":
            details = event.get("executionFailedEventDetails", {})
            current.error, current.cause = details.get("error"), error_message(details.get("cause"))
    for step in result:
        if step.attempts and step.attempts[-1].outcome == "ok":
            step.error = step.cause = None
    return result


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


def command(args: argparse.Namespace) -> int:
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
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(render(record.name, record.status, record.history))
    return 0
