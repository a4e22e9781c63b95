"""The segment-personalize workflow, authored with the AWS Step Functions Data Science SDK.

``definition()`` builds the Amazon States Language document that ``python -m state_machines`` writes to
``segment_personalize.asl.json``. Retry and Catch lists come from ``segment_personalize.errors``, so the
state machine cannot drift from the exceptions the functions raise. Each step's payload and result path
follow ``docs/contract.md``.
"""

from __future__ import annotations

import json
from typing import Any

import functions
from iac.template import function_timeouts
from segment_personalize.errors import LAMBDA_TRANSIENT, REJECTING, RETRYABLE, TIMEOUTS
from state_machines import DEAD_LETTER_QUEUE_PLACEHOLDER
from state_machines.budget import SERVICE_TASK_TIMEOUT_SECONDS, lambda_task_timeout
from state_machines.graph import state_order
from state_machines.sdk import Catch, Chain, Choice, ChoiceRule, Fail, Graph, Pass, Retry, Succeed, Task

#: Retry policy of every step's transient errors (``errors.RETRYABLE``, Lambda's service errors, and an
#: invocation or Task out of time): three retries after waits of at most 1, 2 and 4 s (full jitter), inside
#: the time budget of ``state_machines/budget.py`` with every attempt at its timeout. One retrier, so one
#: count of attempts for all of them: a step fails after four attempts whatever mix of errors it met.
STEP_RETRY = {"interval_seconds": 1, "backoff_rate": 2.0, "max_attempts": 3, "max_delay_seconds": 4}
#: Retry policy of the dead-letter send: it is the last chance to keep the event.
DEAD_LETTER_RETRY = {"interval_seconds": 1, "backoff_rate": 2.0, "max_attempts": 3, "max_delay_seconds": 4}

COMMENT = (
    "segment-personalize: one Segment event -> validate -> track into Amazon Personalize -> recommend -> "
    "filter by profile traits -> sync to the Segment profile. Transient errors are retried with backoff and "
    "full jitter; a rejected event ends in Rejected; a step that still fails is dead-lettered, then Failed."
)

_STATE_KEY_ORDER = (
    "Type",
    "Comment",
    "Resource",
    "InputPath",
    "Parameters",
    "ResultSelector",
    "Result",
    "ResultPath",
    "OutputPath",
    "Choices",
    "Default",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "Retry",
    "Catch",
    "Error",
    "ErrorPath",
    "Cause",
    "CausePath",
    "Next",
    "End",
)
_RETRY_KEY_ORDER = (
    "ErrorEquals",
    "Comment",
    "IntervalSeconds",
    "BackoffRate",
    "MaxAttempts",
    "MaxDelaySeconds",
    "JitterStrategy",
    "ResultPath",
    "Next",
)


#: What every step retries: its domain's transient errors, Lambda's service errors, being out of time.
TRANSIENT_ERRORS: list[str] = [
    *(error.__name__ for error in RETRYABLE),
    *LAMBDA_TRANSIENT,
    *TIMEOUTS,
]


def _lambda_task(name: str, comment: str, parameters: dict[str, str], result_path: str) -> Task:
    function = next(f for f in functions.STEPS if functions.camel(f) == name)
    return Task(
        name,
        comment=comment,
        resource="${" + functions.placeholder(function) + "}",
        parameters=parameters,
        result_path=result_path,
        timeout_seconds=lambda_task_timeout(_FUNCTION_TIMEOUTS[function]),
        retry=Retry(error_equals=TRANSIENT_ERRORS, jitter_strategy="FULL", **STEP_RETRY),
    )


#: Each function's Lambda timeout, as ``iac/template.yaml`` deploys it (its one source).
_FUNCTION_TIMEOUTS = function_timeouts()


def build() -> Graph:
    """The workflow as an SDK graph."""
    validate = _lambda_task(
        "Validate",
        "Parse the Segment message; list its Personalize interactions or say why it is ignored. "
        "InvalidSegmentEvent rejects it.",
        {"messageId.$": "$.messageId", "event.$": "$.event"},
        "$.validated",
    )
    track = _lambda_task(
        "Track",
        "PutEvents into the Personalize event tracker, at most 10 events a call; eventIds are stable.",
        {
            "messageId.$": "$.messageId",
            "userId.$": "$.validated.userId",
            "sessionId.$": "$.validated.sessionId",
            "interactions.$": "$.validated.interactions",
        },
        "$.tracked",
    )
    recommend = _lambda_task(
        "Recommend",
        "GetRecommendations from the configured campaign or recommender.",
        {
            "messageId.$": "$.messageId",
            "userId.$": "$.validated.userId",
            "sessionId.$": "$.validated.sessionId",
        },
        "$.recommendations",
    )
    filter_traits = _lambda_task(
        "FilterTraits",
        "Read the user's traits from Segment's Profile API, apply the trait rules, cut to the count.",
        {
            "messageId.$": "$.messageId",
            "userId.$": "$.validated.userId",
            "anonymousId.$": "$.validated.anonymousId",
            "items.$": "$.recommendations.items",
        },
        "$.filtered",
    )
    sync_profile = _lambda_task(
        "SyncProfile",
        "Send an identify with the recommended item ids as a trait, through the Segment source.",
        {
            "messageId.$": "$.messageId",
            "userId.$": "$.validated.userId",
            "anonymousId.$": "$.validated.anonymousId",
            "itemIds.$": "$.filtered.itemIds",
            "recommendationId.$": "$.recommendations.recommendationId",
        },
        "$.synced",
    )

    is_interaction = Choice("IsInteraction", comment="A valid message that is not an interaction ends here.")
    ignored = Succeed("Ignored", comment="Valid, not an interaction; $.validated.reason says why.")
    should_recommend = Choice(
        "ShouldRecommend",
        comment="Known users get recommendations; anonymous ones only with RECOMMEND_FOR_ANONYMOUS.",
    )
    tracked = Succeed("Tracked", comment="Tracked; no recommendation for this visitor.")
    synced = Succeed("Synced", comment="Tracked, recommended, filtered and synced to the Segment profile.")

    # Rejected: the reason is the errorMessage inside the Lambda error's JSON Cause.
    parse_rejection = Pass(
        "ParseRejectionCause",
        comment="The Cause of a Lambda error is a JSON string; parse it to reach errorMessage.",
        parameters={"cause.$": "States.StringToJson($.error.Cause)"},
        result_path="$.rejection",
    )
    build_rejection = Pass(
        "BuildRejection",
        comment="Shape the output of a rejected event.",
        parameters={
            "messageId.$": "$.messageId",
            "outcome": "rejected",
            "reason.$": "$.rejection.cause.errorMessage",
        },
    )
    rejected = Succeed(
        "Rejected", comment="InvalidSegmentEvent: the event cannot be processed; output has the reason."
    )

    # Failed: record which state failed, dead-letter the event with the error, then fail with that error.
    failed = Fail(
        "Failed",
        comment="A step failed after its retries; the event is dead-lettered. Error/Cause are the step's.",
        error_path="$.error.Error",
        cause_path="$.error.Cause",
    )
    send_to_dlq = Task(
        "SendToDeadLetterQueue",
        comment="Keep the event and the error in the dead-letter queue, for inspection and redrive.",
        resource="arn:aws:states:::sqs:sendMessage",
        parameters={
            "QueueUrl": "${" + DEAD_LETTER_QUEUE_PLACEHOLDER + "}",
            "MessageBody": {
                "messageId.$": "$.messageId",
                "event.$": "$.event",
                "failedState.$": "$.failedState",
                "error.$": "$.error",
            },
        },
        result_path=None,
        timeout_seconds=SERVICE_TASK_TIMEOUT_SECONDS,
        retry=Retry(error_equals=["States.ALL"], jitter_strategy="FULL", **DEAD_LETTER_RETRY),
    )
    send_to_dlq.next(failed)

    rejecting = [error.__name__ for error in REJECTING]
    validate.add_catch(Catch(error_equals=rejecting, next_step=parse_rejection, result_path="$.error"))
    for task in (validate, track, recommend, filter_traits, sync_profile):
        record = Pass(
            f"{task.state_id}Failed",
            comment=f"Record that {task.state_id} failed, for the dead-letter message.",
            result=task.state_id,
            result_path="$.failedState",
        )
        record.next(send_to_dlq)
        task.add_catch(Catch(error_equals=["States.ALL"], next_step=record, result_path="$.error"))

    is_interaction.add_choice(
        ChoiceRule.StringEquals(variable="$.validated.status", value="ignored"), ignored
    )
    should_recommend.add_choice(
        ChoiceRule.BooleanEquals(variable="$.validated.recommend", value=False), tracked
    )
    Chain([parse_rejection, build_rejection, rejected])

    # The main path; each Choice's Default is the next state of the chain.
    chain = Chain(
        [validate, is_interaction, track, should_recommend, recommend, filter_traits, sync_profile, synced]
    )
    return Graph(chain, comment=COMMENT)


def _ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    rank = {key: index for index, key in enumerate(order)}
    return {key: mapping[key] for key in sorted(mapping, key=lambda key: (rank.get(key, len(rank)), key))}


def definition() -> dict[str, Any]:
    """The ASL document: states in a stable order, keys in the conventional ASL order."""
    raw = build().to_dict()
    states: dict[str, Any] = {}
    for name in state_order(raw["States"], raw["StartAt"]):
        state = dict(raw["States"][name])
        for key in ("Retry", "Catch"):
            if key in state:
                state[key] = [_ordered(entry, _RETRY_KEY_ORDER) for entry in state[key]]
        states[name] = _ordered(state, _STATE_KEY_ORDER)
    return {"Comment": raw["Comment"], "StartAt": raw["StartAt"], "States": states}


def render() -> str:
    """The ASL file's exact text: two-space indents, non-ASCII kept, a trailing newline."""
    return json.dumps(definition(), indent=2, ensure_ascii=False) + "\n"
