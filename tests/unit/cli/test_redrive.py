"""The redrive command alone, on moto's SQS and Step Functions (no workflow runs): names, what is deleted
when, what is left in the queue and why. ``tests/e2e/test_soak.py`` redrives through the real workflow."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cli.redrive import REDRIVE_MARK, MalformedDeadLetter, parse_dead_letter, redrive, redrive_name
from segment_personalize.dead_letters import parked_letter
from segment_personalize.executions import MAX_EXECUTION_INPUT_BYTES, execution_input, execution_name

pytestmark = pytest.mark.unit

DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


def dead_letter(message_id: str = "m-1", **extra: Any) -> str:
    event = {"messageId": message_id, "type": "track", "event": "Product Viewed", "userId": "u1"}
    return json.dumps(
        {
            "messageId": message_id,
            "event": event,
            "failedState": "Track",
            "error": {"Error": "PersonalizeThrottled", "Cause": "{}"},
            **extra,
        }
    )


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any, str, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        machine = sfn.create_state_machine(
            name="segment-personalize",
            definition=DEFINITION,
            roleArn="arn:aws:iam::123456789012:role/states",
        )["stateMachineArn"]
        yield sqs, sfn, queue, machine


def _bodies(sqs: Any, queue: str) -> list[str]:
    found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return sorted(m["Body"] for m in found.get("Messages", []))


def test_redrive_names_fit_step_functions_rules_and_are_one_per_dead_letter() -> None:
    for message_id in ("ajs-1", "x" * 300, "héllo wörld/ü?", "a" * 80):
        name = redrive_name(message_id, "sqs-id-1")
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
        assert name == redrive_name(message_id, "sqs-id-1")  # deterministic
        assert name != redrive_name(message_id, "sqs-id-2")  # a new dead letter, a new name
        assert REDRIVE_MARK in name
        assert name.startswith(execution_name(message_id)[:40])


def test_each_dead_letter_starts_the_input_the_entry_function_builds_and_is_then_deleted(aws: Any) -> None:
    sqs, sfn, queue, machine = aws
    sqs.send_message(QueueUrl=queue, MessageBody=dead_letter("m-1"))
    sqs.send_message(QueueUrl=queue, MessageBody=dead_letter("m-2"))

    report = redrive(sqs, sfn, queue, machine, wait_seconds=0)

    assert report.received == 2
    assert sorted(r.messageId for r in report.started) == ["m-1", "m-2"]
    assert report.left == []
    for redriven in report.started:
        assert redriven.status == "started"
        assert (redriven.failedState, redriven.error) == ("Track", "PersonalizeThrottled")
        described = sfn.describe_execution(executionArn=redriven.executionArn)
        assert described["name"] == redriven.executionName
        event = json.loads(dead_letter(redriven.messageId))["event"]
        assert described["input"] == execution_input(redriven.messageId, event)
    assert _bodies(sqs, queue) == []


def test_a_failed_start_leaves_the_message_in_the_queue(aws: Any) -> None:
    sqs, sfn, queue, machine = aws
    sqs.send_message(QueueUrl=queue, MessageBody=dead_letter())
    missing = machine.replace("segment-personalize", "gone")

    report = redrive(sqs, sfn, queue, missing, wait_seconds=0)

    assert report.started == []
    (left,) = report.left
    assert left.messageId == "m-1"
    assert "StartExecution" in left.reason
    assert "StateMachineDoesNotExist" in left.reason
    assert _bodies(sqs, queue) == [dead_letter()]  # and visible again at once


def test_a_parked_input_stays_in_the_queue_with_its_reason_and_is_not_a_failure(aws: Any) -> None:
    sqs, sfn, queue, machine = aws
    parked = parked_letter("message: messageId is missing", {"type": "track"}, None)
    sqs.send_message(QueueUrl=queue, MessageBody=parked)
    sqs.send_message(QueueUrl=queue, MessageBody=dead_letter("m-1"))

    report = redrive(sqs, sfn, queue, machine, wait_seconds=0)

    # the failed execution goes back in; the parked input cannot become valid by waiting: it stays, with why
    assert [r.messageId for r in report.started] == ["m-1"]
    (left,) = report.parked
    assert left.reason == "parked by the entry function: message: messageId is missing"
    assert report.stuck == []
    assert _bodies(sqs, queue) == [parked]
    assert report.as_json()["parked"] == 1


def test_an_execution_already_started_by_an_earlier_redrive_counts_and_the_message_goes(aws: Any) -> None:
    sqs, sfn, queue, machine = aws
    sent = sqs.send_message(QueueUrl=queue, MessageBody=dead_letter())
    # an earlier redrive started the execution but could not delete the message
    name = redrive_name("m-1", sent["MessageId"])
    sfn.start_execution(stateMachineArn=machine, name=name, input="{}")

    report = redrive(sqs, sfn, queue, machine, wait_seconds=0)

    (redriven,) = report.started
    assert redriven.status == "already_started"
    assert redriven.executionName == name
    assert redriven.executionArn is not None
    assert redriven.executionArn.endswith(f":{name}")
    assert _bodies(sqs, queue) == []
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1


def test_dry_run_and_max_messages(aws: Any) -> None:
    sqs, sfn, queue, machine = aws
    for number in range(5):
        sqs.send_message(QueueUrl=queue, MessageBody=dead_letter(f"m-{number}"))

    dry = redrive(sqs, sfn, queue, machine, dry_run=True, wait_seconds=0)
    assert [r.status for r in dry.redriven] == ["would_start"] * 5
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    assert len(_bodies(sqs, queue)) == 5

    some = redrive(sqs, sfn, queue, machine, max_messages=3, wait_seconds=0)
    assert some.received == 3
    assert len(some.started) == 3
    assert len(_bodies(sqs, queue)) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"event": {}}), "messageId is missing"),
        (json.dumps({"messageId": "", "event": {}}), "messageId is missing"),
        (json.dumps({"messageId": "m", "event": ["a"]}), "event is missing or not a JSON object"),
        (json.dumps({"messageId": "m", "event": {"x": "y" * MAX_EXECUTION_INPUT_BYTES}}), "over Step"),
    ],
)
def test_malformed_dead_letters_are_named(body: str, reason: str) -> None:
    with pytest.raises(MalformedDeadLetter, match=reason):
        parse_dead_letter(body)


def test_max_messages_must_be_positive(aws: Any) -> None:
    sqs, sfn, queue, machine = aws
    with pytest.raises(ValueError, match="at least 1"):
        redrive(sqs, sfn, queue, machine, max_messages=0)
