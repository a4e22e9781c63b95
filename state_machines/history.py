"""Readers of a Step Functions execution history (the events of GetExecutionHistory).

moto's histories and real ones (``aws stepfunctions get-execution-history``) alike: the names of the states
entered and exited, the events inside one state, and :func:`steps`, the console's state-by-state view (each
state's input, output, attempts and error), which ``segment-personalize trace`` prints.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


def entered(history: list[dict[str, Any]]) -> list[str]:
    """Names of the states entered, in order."""
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in history
        if event["type"].endswith("StateEntered")
    ]


def exited(history: list[dict[str, Any]]) -> list[str]:
    """Names of the states exited, in order."""
    return [
        event["stateExitedEventDetails"]["name"] for event in history if event["type"].endswith("StateExited")
    ]


def of_type(history: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [event for event in history if event["type"] == event_type]


def in_state(history: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    """The events between the state's Entered and Exited events (its attempts and their outcomes)."""
    inside: list[dict[str, Any]] = []
    active = False
    for event in history:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        if event["type"].endswith("StateEntered") and details.get("name") == state:
            active = True
        elif event["type"].endswith("StateExited") and details.get("name") == state:
            active = False
        elif active:
            inside.append(event)
    return inside


def lambda_outcomes(history: list[dict[str, Any]], state: str) -> list[str]:
    """Each Lambda attempt of ``state``: ``"ok"`` or the Error of its LambdaFunctionFailed event."""
    outcomes = []
    for event in in_state(history, state):
        if event["type"] == "LambdaFunctionSucceeded":
            outcomes.append("ok")
        elif event["type"] == "LambdaFunctionFailed":
            outcomes.append(event["lambdaFunctionFailedEventDetails"]["error"])
    return outcomes


def scheduled_inputs(history: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    """The payload each Lambda attempt of ``state`` received."""
    return [
        json.loads(event["lambdaFunctionScheduledEventDetails"]["input"])
        for event in in_state(history, state)
        if event["type"] == "LambdaFunctionScheduled"
    ]


def scheduled_resources(history: list[dict[str, Any]]) -> list[str]:
    """The Lambda ARN of every LambdaFunctionScheduled event, in order."""
    return [
        event["lambdaFunctionScheduledEventDetails"]["resource"]
        for event in of_type(history, "LambdaFunctionScheduled")
    ]


# --- state by state ---------------------------------------------------------------------------------------
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
