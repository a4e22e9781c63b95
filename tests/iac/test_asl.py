"""The ASL file as the template deploys it: its graph is sound, the contract's states are there, its tasks
invoke only the step functions and the dead-letter queue, and moto's parser accepts it."""

from __future__ import annotations

import json
import re

import pytest

from iac.template import ACCOUNT, PLACEHOLDERS, REGION, CheckFailed, Validation, require
from state_machines import graph, substitute

pytestmark = pytest.mark.iac

CONTRACT_STATES = {
    "Validate": "Task",
    "Track": "Task",
    "Recommend": "Task",
    "FilterTraits": "Task",
    "SyncProfile": "Task",
    "Ignored": "Succeed",
    "Tracked": "Succeed",
    "Synced": "Succeed",
    "Rejected": "Succeed",
    "Failed": "Fail",
}
SQS_SEND = "arn:aws:states:::sqs:sendMessage"


def _check_tasks(v: Validation) -> None:
    """Tasks invoke the five step functions (direct ARN form) and send to the dead-letter queue, nothing
    an EXPRESS workflow cannot run."""
    lambda_placeholders = {p for p in PLACEHOLDERS if p.endswith("FunctionArn")}
    used: set[str] = set()
    for name, state in v.asl["States"].items():
        if state["Type"] != "Task":
            continue
        resource = state["Resource"]
        require(
            not resource.endswith((".sync", ".waitForTaskToken", ".sync:2")),
            f"{name} uses {resource}, which an EXPRESS workflow cannot run",
        )
        if resource == SQS_SEND:
            queue = state.get("Parameters", {}).get("QueueUrl")
            require(queue == "${DeadLetterQueueUrl}", f"{name} sends to {queue!r}, not the dead-letter queue")
            continue
        match = re.fullmatch(r"\$\{([A-Za-z]+)\}", resource)
        if match is None or match.group(1) not in lambda_placeholders:
            raise CheckFailed(
                f"{name} has the resource {resource!r}: the state machine role may only invoke the step "
                "functions (direct ARN form) and send to the dead-letter queue"
            )
        used.add(match.group(1))
    require(
        used == lambda_placeholders, f"step functions never invoked: {sorted(lambda_placeholders - used)}"
    )


def check_asl_structure(v: Validation) -> None:
    """Every target exists, every state ends or goes on, all are reachable, the contract's states are
    there, and the tasks are the ones the state machine role allows."""
    asl = v.asl
    states = asl.get("States", {})
    require(asl.get("StartAt") in states, f"StartAt {asl.get('StartAt')!r} is not a state")
    for name, state in states.items():
        for target in graph.targets(state):
            require(target in states, f"{name} goes to the missing state {target!r}")
        terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
        require(terminal or state["Type"] == "Choice" or "Next" in state, f"{name} neither ends nor goes on")
    seen = graph.reachable(asl)
    require(seen == set(states), f"unreachable states {sorted(set(states) - seen)}")
    for name, kind in CONTRACT_STATES.items():
        require(states.get(name, {}).get("Type") == kind, f"the contract's state {name} ({kind}) is missing")
    _check_tasks(v)


def test_asl_structure(validation: Validation) -> None:
    check_asl_structure(validation)


@pytest.mark.parametrize(
    ("state", "change", "message"),
    [
        ("Track", {"Next": "Nowhere"}, "missing state 'Nowhere'"),
        (
            "Track",
            {"Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken"},
            "EXPRESS workflow cannot run",
        ),
        ("Recommend", {"Resource": "arn:aws:lambda:us-east-1:123456789012:function:x"}, "may only invoke"),
    ],
)
def test_asl_structure_problems_are_refused(
    validation: Validation, state: str, change: dict[str, str], message: str
) -> None:
    asl = json.loads(validation.asl_text)
    asl["States"][state].update(change)
    with pytest.raises(CheckFailed, match=message):
        check_asl_structure(Validation(asl_text=json.dumps(asl)))


def check_asl_parses(v: Validation) -> None:
    """moto's Amazon States Language parser accepts the definition, its placeholders filled."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    fakes = {
        placeholder: f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/dlq"
        if placeholder == "DeadLetterQueueUrl"
        else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{placeholder[: -len('Arn')]}"
        for placeholder in PLACEHOLDERS
    }
    try:
        text = substitute(v.asl_text, fakes)
    except KeyError as error:
        raise CheckFailed(f"the ASL has placeholders the template does not substitute: {error}") from error
    try:
        AmazonStateLanguageParser.parse(text)
    except Exception as error:
        raise CheckFailed(f"moto's ASL parser rejects the definition: {error}") from error


def test_asl_parses_with_motos_parser(validation: Validation) -> None:
    check_asl_parses(validation)


def test_asl_syntax_error_is_refused(validation: Validation) -> None:
    asl = json.loads(validation.asl_text)
    asl["States"]["Validate"]["Type"] = "Taks"
    with pytest.raises(CheckFailed, match="moto's ASL parser"):
        check_asl_parses(Validation(asl_text=json.dumps(asl)))
