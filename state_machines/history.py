"""Readers of a Step Functions execution history (the events of GetExecutionHistory)."""

from __future__ import annotations

import json
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
