"""Entry: Segment's Amazon Personalize destination invokes this with a message (or a list of them).

Starts one workflow execution per message, named after its messageId so that a redelivery finds the
execution already there (status ``duplicate``), and answers at once. A failure to start raises
``StartExecutionFailed`` so that Segment retries; input that is not a Segment message raises
``InvalidSegmentEvent``. The whole input is checked before any execution starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from segment_personalize.adapters.clients import ENTRY_CALL, client
from segment_personalize.adapters.interfaces import ExecutionStarter
from segment_personalize.config import EntrySettings, load
from segment_personalize.errors import InvalidSegmentEvent, StartExecutionFailed
from segment_personalize.executions import (
    MAX_EXECUTION_INPUT_BYTES,
    execution_arn,
    execution_input,
    execution_name,
)
from segment_personalize.observability import MetricUnit, handler, logger, metrics
from segment_personalize.segment_events import json_type

settings = load(EntrySettings)
sfn: ExecutionStarter = client("stepfunctions", ENTRY_CALL)


@handler(traces=("botocore",))
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        started = [start(message_id, name, body) for message_id, name, body in executions(event)]
    except InvalidSegmentEvent:
        metrics.add_metric(name="EntryRejected", unit=MetricUnit.Count, value=1)
        raise
    except StartExecutionFailed:
        metrics.add_metric(name="StartExecutionFailures", unit=MetricUnit.Count, value=1)
        raise
    duplicates = sum(1 for item in started if item["status"] == "duplicate")
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=len(started) - duplicates)
    metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=duplicates)
    return {"started": started}


def executions(event: Any) -> list[tuple[str, str, str]]:
    """(messageId, execution name, execution input) for each message; raises InvalidSegmentEvent."""
    if isinstance(event, Mapping):
        return [_execution(event, "message")]
    if isinstance(event, list):
        if not event:
            raise InvalidSegmentEvent("input: an empty list holds no Segment message")
        return [_execution(message, f"message [{index}]") for index, message in enumerate(event)]
    raise InvalidSegmentEvent(
        f"input: expected a Segment message (a JSON object) or a list of them, got {json_type(event)}"
    )


def _execution(message: Any, where: str) -> tuple[str, str, str]:
    if not isinstance(message, Mapping):
        raise InvalidSegmentEvent(f"{where}: expected a JSON object, got {json_type(message)}")
    if "messageId" not in message:
        raise InvalidSegmentEvent(f"{where}: messageId is missing")
    message_id = message["messageId"]
    if not isinstance(message_id, str):
        raise InvalidSegmentEvent(f"{where}: messageId must be a string, got {json_type(message_id)}")
    if not message_id:
        raise InvalidSegmentEvent(f"{where}: messageId is empty")
    try:
        body = execution_input(message_id, message)
        size = len(body.encode("utf-8"))
    except (ValueError, TypeError, RecursionError) as error:
        raise InvalidSegmentEvent(f"{where}: is not valid JSON ({type(error).__name__})") from error
    if size > MAX_EXECUTION_INPUT_BYTES:
        raise InvalidSegmentEvent(
            f"{where}: execution input is {size} bytes, "
            f"over Step Functions' {MAX_EXECUTION_INPUT_BYTES}-byte limit"
        )
    return message_id, execution_name(message_id), body


def start(message_id: str, name: str, body: str) -> dict[str, str]:
    """StartExecution; an existing execution of that name is a duplicate delivery, not an error."""
    try:
        response = sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name, input=body)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code != "ExecutionAlreadyExists":
            raise StartExecutionFailed(f"StartExecution {name}: {code or 'error'}") from error
        logger.info("execution already exists: a redelivery", extra={"executionName": name})
        arn, status = execution_arn(settings.state_machine_arn, name), "duplicate"
    except BotoCoreError as error:
        raise StartExecutionFailed(f"StartExecution {name}: {type(error).__name__}") from error
    else:
        arn, status = response["executionArn"], "started"
        logger.info("execution started", extra={"executionName": name})
    return {"messageId": message_id, "executionName": name, "executionArn": arn, "status": status}
