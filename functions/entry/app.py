"""Entry: Segment's Amazon Personalize destination invokes this with a message (or a list of them).

Starts one workflow execution per message, named after its messageId so that a redelivery finds the
execution already there (status ``duplicate``), and answers at once.

A valid message that can never be an interaction under the current settings (identify, page, screen, group,
alias, a track event not in ``INTERACTION_EVENTS``) starts nothing: it is answered ``skipped`` with the reason
Validate would give, and counted (``MessagesSkipped``). That keeps the executions (and their cost and quotas)
to the events that can train Personalize, and ends the loop where SyncProfile's own identifies, sent to a
connected source, came back as executions. ``START_EVERY_MESSAGE=true`` starts them anyway, to end
``Ignored`` in the console. A message that does not parse is started, so that Validate rejects it with its
reason.

Input that can never become an execution (not a JSON object, no string messageId, over Step Functions' input
limit) is **parked** in the dead-letter queue with its reason and answered with status ``rejected``: Segment
retries a failed invoke for four hours (``segment_personalize.dead_letters``), which cannot make it valid.
Only a failure that a retry can fix raises, so that Segment retries: ``StartExecutionFailed`` (throttled,
5xx, network), ``DeadLetterQueueUnavailable`` (the queue could not take a parked input), ``PermissionDenied``
(the role lacks a permission: fix it and the retries get in). Executions start before anything is parked, so
a retried invoke parks nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from segment_personalize.adapters.clients import ENTRY_CALL, client
from segment_personalize.adapters.interfaces import ExecutionStarter, LetterSender
from segment_personalize.config import EntrySettings, load
from segment_personalize.dead_letters import parked_letter
from segment_personalize.errors import (
    ACCESS_DENIED_CODES,
    DeadLetterQueueUnavailable,
    InvalidSegmentEvent,
    PermissionDenied,
    StartExecutionFailed,
    permission_denied,
)
from segment_personalize.executions import (
    MAX_EXECUTION_INPUT_BYTES,
    execution_arn,
    execution_input,
    execution_name,
)
from segment_personalize.observability import MetricUnit, handler, logger, metrics
from segment_personalize.segment_events import json_type, never_an_interaction, parse_message

settings = load(EntrySettings)
sfn: ExecutionStarter = client("stepfunctions", ENTRY_CALL)
sqs: LetterSender = client("sqs", ENTRY_CALL)


@dataclass(frozen=True)
class Execution:
    """A message that becomes an execution: its messageId, execution name and input."""

    message_id: str
    name: str
    body: str


@dataclass(frozen=True)
class Hopeless:
    """Input that can never become an execution, and why."""

    raw: Any
    reason: str
    message_id: str | None


@dataclass(frozen=True)
class Skipped:
    """A valid message that can never be an interaction under the current settings, and why."""

    message_id: str
    reason: str


@handler(traces=("botocore",))
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    planned = plan(event)
    try:
        answers = {id(p): start(p) for p in planned if isinstance(p, Execution)}
    except (StartExecutionFailed, PermissionDenied):
        metrics.add_metric(name="StartExecutionFailures", unit=MetricUnit.Count, value=1)
        raise
    try:
        answers |= {id(p): park(p) for p in planned if isinstance(p, Hopeless)}
    except (DeadLetterQueueUnavailable, PermissionDenied):
        metrics.add_metric(name="ParkFailures", unit=MetricUnit.Count, value=1)
        raise
    answers |= {id(p): skip(p) for p in planned if isinstance(p, Skipped)}
    started = [answers[id(p)] for p in planned]
    statuses = [item["status"] for item in started]
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=statuses.count("started"))
    metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=statuses.count("duplicate"))
    metrics.add_metric(name="InputsParked", unit=MetricUnit.Count, value=statuses.count("rejected"))
    metrics.add_metric(name="MessagesSkipped", unit=MetricUnit.Count, value=statuses.count("skipped"))
    return {"started": started}


Planned = Execution | Hopeless | Skipped


def plan(event: Any) -> list[Planned]:
    """What becomes of each message of the input, in order."""
    if isinstance(event, Mapping):
        return [_plan_one(event, "message")]
    if isinstance(event, list):
        if not event:
            return [Hopeless(event, "input: an empty list holds no Segment message", None)]
        return [_plan_one(message, f"message [{index}]") for index, message in enumerate(event)]
    return [
        Hopeless(
            event,
            f"input: expected a Segment message (a JSON object) or a list of them, got {json_type(event)}",
            None,
        )
    ]


def _plan_one(message: Any, where: str) -> Planned:
    if not isinstance(message, Mapping):
        return Hopeless(message, f"{where}: expected a JSON object, got {json_type(message)}", None)
    message_id = message.get("messageId")
    if "messageId" not in message:
        return Hopeless(message, f"{where}: messageId is missing", None)
    if not isinstance(message_id, str):
        return Hopeless(message, f"{where}: messageId must be a string, got {json_type(message_id)}", None)
    if not message_id:
        return Hopeless(message, f"{where}: messageId is empty", None)
    reason = None if settings.start_every_message else _never_an_interaction(message)
    if reason is not None:
        return Skipped(message_id, reason)
    try:
        body = execution_input(message_id, message)
    except (ValueError, TypeError, RecursionError) as error:
        return Hopeless(message, f"{where}: is not valid JSON ({type(error).__name__})", message_id)
    size = len(body.encode("utf-8"))
    if size > MAX_EXECUTION_INPUT_BYTES:
        limit = f"over Step Functions' {MAX_EXECUTION_INPUT_BYTES}-byte limit"
        return Hopeless(message, f"{where}: execution input is {size} bytes, {limit}", message_id)
    return Execution(message_id, execution_name(message_id), body)


def _never_an_interaction(message: Mapping[str, Any]) -> str | None:
    """Why a valid message can never be an interaction under INTERACTION_EVENTS, as Validate says it; None
    for one that may be, or that does not parse (Validate rejects it with its reason)."""
    try:
        parsed = parse_message(message)
    except InvalidSegmentEvent:
        return None
    return never_an_interaction(parsed, settings.interaction_events)


def skip(skipped: Skipped) -> dict[str, Any]:
    """The answer to a message that starts nothing: ``skipped`` and why."""
    logger.debug("not an interaction: no execution", extra={"reason": skipped.reason})
    return {"messageId": skipped.message_id, "status": "skipped", "reason": skipped.reason}


def start(execution: Execution) -> dict[str, Any]:
    """StartExecution; an existing execution of that name is a duplicate delivery, not an error."""
    name = execution.name
    try:
        response = sfn.start_execution(
            stateMachineArn=settings.state_machine_arn, name=name, input=execution.body
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ACCESS_DENIED_CODES:
            raise permission_denied("states:StartExecution", code, str(error)) from error
        if code != "ExecutionAlreadyExists":
            raise StartExecutionFailed(f"StartExecution {name}: {code or 'error'}") from error
        logger.info("execution already exists: a redelivery", extra={"executionName": name})
        arn, status = execution_arn(settings.state_machine_arn, name), "duplicate"
    except BotoCoreError as error:
        raise StartExecutionFailed(f"StartExecution {name}: {type(error).__name__}") from error
    else:
        arn, status = response["executionArn"], "started"
        logger.info("execution started", extra={"executionName": name})
    return {"messageId": execution.message_id, "executionName": name, "executionArn": arn, "status": status}


def park(hopeless: Hopeless) -> dict[str, Any]:
    """Send the input and its reason to the dead-letter queue; the answer says ``rejected`` and why."""
    body = parked_letter(hopeless.reason, hopeless.raw, hopeless.message_id)
    try:
        sent = sqs.send_message(QueueUrl=settings.dead_letter_queue_url, MessageBody=body)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ACCESS_DENIED_CODES:
            raise permission_denied("sqs:SendMessage", code, str(error)) from error
        raise DeadLetterQueueUnavailable(f"SendMessage of a parked input: {code or 'error'}") from error
    except BotoCoreError as error:
        raise DeadLetterQueueUnavailable(f"SendMessage of a parked input: {type(error).__name__}") from error
    logger.info("input parked in the dead-letter queue", extra={"reason": hopeless.reason})
    return {
        "messageId": hopeless.message_id,
        "status": "rejected",
        "reason": hopeless.reason,
        "deadLetterId": sent["MessageId"],
    }
