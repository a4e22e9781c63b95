"""Every path of the workflow, run by moto's interpreter against the real handlers.

Each test asserts on the execution history (states entered, Lambda attempts and their errors), the final
status and output, the dead-letter queue, and what the fakes received.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY

from local_stack.lambda_runtime.invoker import InvocationError
from local_stack.stepfunctions.engine import LocalEngine
from segment_personalize.errors import ProfileApiThrottled, SegmentUnavailable
from state_machines import load_definition
from state_machines.history import (
    entered,
    in_state,
    lambda_outcomes,
    of_type,
    scheduled_inputs,
    scheduled_resources,
)
from tests.events import load_event
from tests.fakes.services import Services

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(30)]

WAIT = 20.0
MAIN_PATH = [
    "Validate",
    "IsInteraction",
    "Track",
    "ShouldRecommend",
    "Recommend",
    "FilterTraits",
    "SyncProfile",
]
RECOMMENDATIONS = {
    "itemList": [
        {"itemId": "sku-1", "score": 0.5},
        {"itemId": "sku-2", "score": 0.3},
        {"itemId": "sku-3", "score": 0.2},
    ],
    "recommendationId": "RID-1",
}


def max_attempts(state: str, error: str) -> int:
    """MaxAttempts of the retrier of ``state`` that matches ``error``, read from the committed ASL file."""
    for retrier in load_definition()["States"][state].get("Retry", []):
        if error in retrier["ErrorEquals"]:
            return int(retrier["MaxAttempts"])
    raise AssertionError(f"{state} has no retrier for {error}")


def full_jitter_bounds(state: str, error: str) -> list[float]:
    """The upper bound of each wait of a FULL-jitter retrier: min(interval * rate**n, max delay)."""
    for retrier in load_definition()["States"][state]["Retry"]:
        if error in retrier["ErrorEquals"]:
            interval, rate = retrier["IntervalSeconds"], retrier["BackoffRate"]
            return [
                min(interval * rate**n, retrier["MaxDelaySeconds"]) for n in range(retrier["MaxAttempts"])
            ]
    raise AssertionError(f"{state} has no retrier for {error}")


def expect_put_events(services: Services, event: dict[str, Any]) -> None:
    expected = {"trackingId": "local-tracking-id", "sessionId": event["anonymousId"], "eventList": ANY}
    if event.get("userId"):
        expected["userId"] = event["userId"]
    services.events.respond("put_events", {}, expected)


def expect_get_recommendations(engine: LocalEngine, services: Services, event: dict[str, Any]) -> None:
    """GetRecommendations for the event's user, as Recommend's settings ask, answers RECOMMENDATIONS."""
    settings = engine.functions["recommend"].settings
    services.runtime.respond(
        "get_recommendations",
        RECOMMENDATIONS,
        {
            "userId": event["userId"],
            "numResults": settings.effective_num_results,
            "campaignArn": settings.campaign_arn,
        },
    )


def assert_contract_payloads(
    history: list[dict[str, Any]], output: dict[str, Any], event: dict[str, Any]
) -> None:
    """Track got its input from ``$.validated``, FilterTraits its items from ``$.recommendations``."""
    assert scheduled_inputs(history, "Track") == [
        {
            "messageId": event["messageId"],
            "userId": event["userId"],
            "sessionId": event["anonymousId"],
            "interactions": output["validated"]["interactions"],
        }
    ]
    assert scheduled_inputs(history, "FilterTraits")[0]["items"] == output["recommendations"]["items"]


def run(engine: LocalEngine, event: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    description = engine.wait(engine.start(event), timeout=WAIT)
    return description, engine.history(description["executionArn"])


def test_a_known_users_interaction_is_tracked_recommended_filtered_and_synced(
    engine: LocalEngine, services: Services
) -> None:
    # given a known user's Product Viewed, Personalize answering, and a profile that bought sku-2
    event = load_event("track_sku")
    expect_put_events(services, event)
    expect_get_recommendations(engine, services, event)
    services.profiles.traits_by_user[event["userId"]] = {"purchased_products": ["sku-2"]}

    # when the workflow runs
    description, history = run(engine, event)

    # then it walks the main path to Synced, one Lambda attempt per step, in order
    assert description["status"] == "SUCCEEDED"
    assert entered(history) == [*MAIN_PATH, "Synced"]
    assert [arn.rsplit(":", 1)[-1] for arn in scheduled_resources(history)] == [
        engine.function_arns[name].rsplit(":", 1)[-1]
        for name in ("validate", "track", "recommend", "filter_traits", "sync_profile")
    ]
    assert of_type(history, "LambdaFunctionFailed") == []
    # each step got the payload of docs/contract.md
    assert_contract_payloads(history, description["output"], event)
    # PutEvents sent the interaction once; Personalize was asked once
    (put_events,) = services.events.calls("PutEvents")
    assert [e["eventId"] for e in put_events["eventList"]] == [event["messageId"]]
    assert put_events["eventList"][0]["itemId"] == event["properties"]["sku"]
    assert len(services.runtime.calls("GetRecommendations")) == 1
    services.events.stubber.assert_no_pending_responses()
    services.runtime.stubber.assert_no_pending_responses()
    # the purchased item was filtered out and the rest written to the profile
    output = description["output"]
    assert output["filtered"] == {
        "messageId": event["messageId"],
        "itemIds": ["sku-1", "sku-3"],
        "profile": "found",
        "removed": {"exclude purchased_products": 1},
    }
    (identify,) = services.segment.sent
    assert identify["user_id"] == event["userId"]
    assert identify["traits"]["recommended_products"] == ["sku-1", "sku-3"]
    assert identify["traits"]["recommended_products_recommendation_id"] == "RID-1"
    assert output["synced"]["identifyMessageId"] == identify["message_id"]
    assert output["synced"]["count"] == 2
    # results sit under their own keys; nothing was dead-lettered
    assert list(output) == [
        "messageId",
        "event",
        "validated",
        "tracked",
        "recommendations",
        "filtered",
        "synced",
    ]
    assert engine.dead_letters() == []


def test_an_anonymous_visitor_is_tracked_without_recommendations(
    engine: LocalEngine, services: Services
) -> None:
    event = load_event("anonymous_only")
    expect_put_events(services, event)

    description, history = run(engine, event)

    assert description["status"] == "SUCCEEDED"
    assert entered(history) == ["Validate", "IsInteraction", "Track", "ShouldRecommend", "Tracked"]
    assert description["output"]["validated"]["recommend"] is False
    (put_events,) = services.events.calls("PutEvents")
    assert "userId" not in put_events
    assert put_events["sessionId"] == event["anonymousId"]
    assert services.runtime.requests == []
    assert services.profiles.calls == []
    assert services.segment.calls == []
    assert "recommendations" not in description["output"]


def test_track_throttled_twice_is_retried_with_jittered_backoff_then_tracks_once(
    engine: LocalEngine, services: Services
) -> None:
    # given Personalize throttles the first two PutEvents calls
    event = load_event("anonymous_only")
    services.events.fail("put_events", "ThrottlingException", 400, times=2)
    expect_put_events(services, event)

    description, history = run(engine, event)

    # then Track was entered once and attempted three times: two PersonalizeThrottled, then success
    assert description["status"] == "SUCCEEDED"
    assert entered(history).count("Track") == 1
    assert lambda_outcomes(history, "Track") == ["PersonalizeThrottled", "PersonalizeThrottled", "ok"]
    assert entered(history)[-1] == "Tracked"
    # the two retries waited a full-jitter draw within the growing interval
    assert len(engine.retry_waits) == 2
    bounds = full_jitter_bounds("Track", "PersonalizeThrottled")
    assert all(0 <= wait <= bound for wait, bound in zip(engine.retry_waits, bounds, strict=False))
    # three PutEvents requests, of which only the last was accepted: tracked once
    assert len(services.events.calls("PutEvents")) == 3
    assert description["output"]["tracked"]["calls"] == 1
    services.events.stubber.assert_no_pending_responses()
    assert engine.dead_letters() == []


def test_recommend_failing_past_its_retries_is_dead_lettered_and_fails_the_execution(
    engine: LocalEngine, services: Services
) -> None:
    # given Personalize answers 500 to every GetRecommendations
    event = load_event("track_sku")
    attempts = 1 + max_attempts("Recommend", "PersonalizeUnavailable")
    expect_put_events(services, event)
    services.runtime.fail("get_recommendations", "InternalServerError", 500, times=attempts)

    description, history = run(engine, event)

    # then Recommend was tried 1 + MaxAttempts times, then the event went to the dead-letter queue
    assert lambda_outcomes(history, "Recommend") == ["PersonalizeUnavailable"] * attempts
    assert len(engine.retry_waits) == attempts - 1
    assert entered(history)[-4:] == ["Recommend", "RecommendFailed", "SendToDeadLetterQueue", "Failed"]
    assert "FilterTraits" not in entered(history)
    (send,) = of_type(in_state(history, "SendToDeadLetterQueue"), "TaskSucceeded")
    assert send["taskSucceededEventDetails"]["resource"] == "sendMessage"
    # the execution failed with the step's own error and cause
    assert description["status"] == "FAILED"
    assert description["error"] == "PersonalizeUnavailable"
    cause = json.loads(description["cause"])
    assert cause["errorType"] == "PersonalizeUnavailable"
    assert "InternalServerError" in cause["errorMessage"]
    # the dead letter holds the original event, the failed state and the error
    (letter,) = engine.dead_letters()
    assert letter["messageId"] == event["messageId"]
    assert letter["event"] == event
    assert letter["failedState"] == "Recommend"
    assert letter["error"]["Error"] == "PersonalizeUnavailable"
    assert json.loads(letter["error"]["Cause"]) == cause
    # tracking happened exactly once before the failure
    assert len(services.events.calls("PutEvents")) == 1
    assert (
        of_type(history, "ExecutionFailed")[0]["executionFailedEventDetails"]["error"]
        == "PersonalizeUnavailable"
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("malformed_bad_timestamp", "timestamp"),
        ("malformed_no_ids", "userId or anonymousId"),
        ("malformed_products_not_list", "products"),
        ("malformed_track_without_event", "event"),
    ],
)
def test_an_invalid_event_is_rejected_with_its_reason_and_nothing_is_tracked(
    engine: LocalEngine, services: Services, name: str, reason: str
) -> None:
    event = load_event(name)

    description, history = run(engine, event)

    assert description["status"] == "SUCCEEDED"
    assert entered(history) == ["Validate", "ParseRejectionCause", "BuildRejection", "Rejected"]
    # InvalidSegmentEvent is not retried
    assert lambda_outcomes(history, "Validate") == ["InvalidSegmentEvent"]
    output = description["output"]
    assert set(output) == {"messageId", "outcome", "reason"}
    assert output["messageId"] == event["messageId"]
    assert output["outcome"] == "rejected"
    assert reason in output["reason"]
    failed = of_type(history, "LambdaFunctionFailed")[0]["lambdaFunctionFailedEventDetails"]
    assert output["reason"] == json.loads(failed["cause"])["errorMessage"]
    assert services.events.requests == []
    assert engine.dead_letters() == []


def test_segment_unavailable_at_sync_profile_is_retried_then_dead_lettered(
    engine: LocalEngine, services: Services
) -> None:
    event = load_event("track_sku")
    attempts = 1 + max_attempts("SyncProfile", "SegmentUnavailable")
    expect_put_events(services, event)
    services.runtime.respond("get_recommendations", RECOMMENDATIONS)
    services.segment.failure = SegmentUnavailable("Segment tracking API refused the identify: HTTP 503 ")

    description, history = run(engine, event)

    assert lambda_outcomes(history, "SyncProfile") == ["SegmentUnavailable"] * attempts
    assert len(services.segment.calls) == attempts
    # every attempt sent the same identify messageId, so Segment dedupes whichever got through
    assert len({call["message_id"] for call in services.segment.calls}) == 1
    assert entered(history)[-3:] == ["SyncProfileFailed", "SendToDeadLetterQueue", "Failed"]
    assert description["status"] == "FAILED"
    assert description["error"] == "SegmentUnavailable"
    (letter,) = engine.dead_letters()
    assert (letter["messageId"], letter["failedState"], letter["error"]["Error"]) == (
        event["messageId"],
        "SyncProfile",
        "SegmentUnavailable",
    )
    assert letter["event"] == event


def test_a_rejected_personalize_request_is_dead_lettered_at_once(
    engine: LocalEngine, services: Services
) -> None:
    event = load_event("user_only")
    services.events.fail("put_events", "InvalidInputException", 400)

    description, history = run(engine, event)

    assert lambda_outcomes(history, "Track") == ["PersonalizeRejected"]
    assert engine.retry_waits == []
    assert description["status"] == "FAILED"
    assert description["error"] == "PersonalizeRejected"
    (letter,) = engine.dead_letters()
    assert letter["failedState"] == "Track"


def test_a_permission_the_role_lacks_is_dead_lettered_at_once_with_the_permission_named(
    engine: LocalEngine, services: Services
) -> None:
    # given Track's execution role may not call PutEvents (as when granted on an event tracker's ARN)
    event = load_event("track_sku")
    services.events.fail("put_events", "AccessDeniedException", 403)

    description, history = run(engine, event)

    # then it is not retried (waiting fixes no role) and the dead letter says which permission to grant
    assert lambda_outcomes(history, "Track") == ["PermissionDenied"]
    assert engine.retry_waits == []
    assert description["error"] == "PermissionDenied"
    (letter,) = engine.dead_letters()
    assert letter["failedState"] == "Track"
    assert "personalize:PutEvents was denied" in json.loads(letter["error"]["Cause"])["errorMessage"]


def test_a_throttled_profile_api_is_retried_then_filtering_goes_on(
    engine: LocalEngine, services: Services
) -> None:
    event = load_event("track_sku")
    expect_put_events(services, event)
    services.runtime.respond("get_recommendations", RECOMMENDATIONS)
    services.profiles.failures.append(ProfileApiThrottled("Profile API answered 429 Too Many Requests"))
    services.profiles.traits_by_user[event["userId"]] = {"purchased_products": ["sku-1"]}

    description, history = run(engine, event)

    assert description["status"] == "SUCCEEDED"
    assert lambda_outcomes(history, "FilterTraits") == ["ProfileApiThrottled", "ok"]
    assert description["output"]["filtered"]["itemIds"] == ["sku-2", "sku-3"]
    assert services.segment.sent[0]["traits"]["recommended_products"] == ["sku-2", "sku-3"]


def test_an_identify_is_ignored_after_validate(engine: LocalEngine, services: Services) -> None:
    event = load_event("identify_traits")

    description, history = run(engine, event)

    assert description["status"] == "SUCCEEDED"
    assert entered(history) == ["Validate", "IsInteraction", "Ignored"]
    assert len(scheduled_resources(history)) == 1
    validated = description["output"]["validated"]
    assert validated["status"] == "ignored"
    assert "identify" in validated["reason"]
    assert validated["interactions"] == []
    assert services.events.requests == []


def test_the_entry_function_starts_one_execution_per_message_and_dedupes_redeliveries(
    engine: LocalEngine, services: Services
) -> None:
    # given Segment delivers a message, then delivers it again after the execution finished
    event = load_event("anonymous_only")
    expect_put_events(services, event)

    first = engine.deliver(event)
    (started,) = first["started"]
    description = engine.wait(started["executionArn"], timeout=WAIT)
    second = engine.deliver(event)

    # then one execution ran, and the redelivery was recognised by the execution name
    assert started["status"] == "started"
    assert started["executionName"] == event["messageId"]
    assert description["status"] == "SUCCEEDED"
    assert description["input"] == {"messageId": event["messageId"], "event": event}
    assert second["started"][0]["status"] == "duplicate"
    assert second["started"][0]["executionArn"] == started["executionArn"]
    assert len(engine.executions()) == 1
    assert len(services.events.calls("PutEvents")) == 1


@pytest.mark.parametrize(
    ("hopeless", "reason"),
    [
        ("not an object", "input: expected a Segment message (a JSON object) or a list of them, got string"),
        ({"type": "track", "event": "Product Viewed"}, "message: messageId is missing"),
        ({"messageId": 7, "type": "track"}, "message: messageId must be a string, got number"),
        ({"messageId": "m-big", "blob": "x" * 300_000}, "message: execution input is "),
    ],
)
def test_the_entry_function_parks_hopeless_input_and_acknowledges_it(
    engine: LocalEngine, hopeless: Any, reason: str
) -> None:
    # when Segment hands the entry function input that can never become an execution
    answer = engine.deliver(hopeless)

    # then Segment gets a success (it would retry a failure for 4 hours, for nothing): rejected, with why
    (item,) = answer["started"]
    assert item["status"] == "rejected"
    assert item["reason"].startswith(reason)
    # no execution, and the input waits in the dead-letter queue with its reason
    assert engine.executions() == []
    (letter,) = engine.dead_letters()
    assert letter["parked"] is True
    assert letter["reason"] == item["reason"]
    assert letter["input"] == hopeless


def test_a_throttled_start_execution_still_raises_so_that_segment_retries(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = engine.functions["entry"]

    def throttled(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "StartExecution")

    monkeypatch.setattr(entry.sfn, "start_execution", throttled)
    with pytest.raises(InvocationError) as raised:
        engine.deliver(load_event("track_sku"))
    assert raised.value.payload["errorType"] == "StartExecutionFailed"
    assert engine.dead_letters() == []  # nothing parked: a retry can fix it
