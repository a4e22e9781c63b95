"""The local Personalize refuses what the real API refuses, with its error names, seen through boto3."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_stack.personalize import PersonalizeService
from tests.e2e.local_stack.personalize.shop import (
    ACCOUNT,
    BROKEN,
    BY_CATEGORY,
    CAMPAIGN,
    ITEMS_DATASET,
    RECOMMENDER,
    T0,
    TRACKING_ID,
    boto,
    error_of,
    event,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


LONG = "x" * 257


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"eventList": [event("boots")] * 11}, "InvalidInputException"),
        ({"eventList": [event("boots", eventId=LONG)]}, "InvalidInputException"),
        ({"eventList": [event(LONG)]}, "InvalidInputException"),
        ({"eventList": [event("boots", event_type=LONG)]}, "InvalidInputException"),
        ({"userId": LONG}, "InvalidInputException"),
        ({"sessionId": LONG}, "InvalidInputException"),
        ({"eventList": [event("boots", impression=["a"] * 26)]}, "InvalidInputException"),
        ({"eventList": [event("boots", recommendationId="R" * 41)]}, "InvalidInputException"),
        ({"eventList": [event("boots", properties=json.dumps({"k": "v" * 1020}))]}, "InvalidInputException"),
        ({"eventList": [event("boots", properties="not json")]}, "InvalidInputException"),
        ({"trackingId": "no-such-tracker"}, "ResourceNotFoundException"),
    ],
    ids=[
        "11-events",
        "long-eventId",
        "long-itemId",
        "long-eventType",
        "long-userId",
        "long-sessionId",
        "26-impressions",
        "long-recommendationId",
        "long-properties",
        "properties-not-json",
        "unknown-tracker",
    ],
)
def test_put_events_rejects_what_the_real_api_rejects(
    events: Any, kwargs: dict[str, Any], expected: str
) -> None:
    request = {
        "trackingId": TRACKING_ID,
        "userId": "u",
        "sessionId": "s",
        "eventList": [event("boots")],
        **kwargs,
    }
    code, status = error_of(lambda: events.put_events(**request))
    assert code == expected
    assert status == (404 if expected == "ResourceNotFoundException" else 400)


@pytest.mark.parametrize(
    "request_body",
    [
        {"trackingId": TRACKING_ID, "sessionId": "s", "eventList": []},
        {"trackingId": TRACKING_ID, "eventList": [event("boots")]},
        {"sessionId": "s", "eventList": [event("boots")]},
        {"trackingId": TRACKING_ID, "sessionId": "s", "eventList": [{"eventType": "x"}]},
        {"trackingId": TRACKING_ID, "sessionId": "s", "eventList": [{"sentAt": T0}]},
        {"trackingId": TRACKING_ID, "sessionId": "s", "eventList": [event("")]},
    ],
    ids=["no-events", "no-sessionId", "no-trackingId", "no-sentAt", "no-eventType", "empty-itemId"],
)
def test_requests_that_boto3_would_refuse_are_refused_by_the_server_too(
    service: PersonalizeService, request_body: dict[str, Any]
) -> None:
    unchecked = boto("personalize-events", service.url, parameter_validation=False)
    code, status = error_of(lambda: unchecked.put_events(**request_body))
    assert (code, status) == ("InvalidInputException", 400)


def test_error_message_names_each_violation(events: Any) -> None:
    with pytest.raises(ClientError) as raised:
        events.put_events(trackingId=TRACKING_ID, sessionId=LONG, eventList=[event("boots", eventId=LONG)])
    message = raised.value.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected:")
    assert "'sessionId'" in message
    assert "'eventList.1.member.eventId'" in message


@pytest.mark.parametrize("operation", ["get_recommendations", "get_personalized_ranking"])
def test_each_field_is_checked_once(runtime: Any, operation: str) -> None:
    request: dict[str, Any] = {"campaignArn": CAMPAIGN, "userId": LONG}
    if operation == "get_personalized_ranking":
        request["inputList"] = ["boots"]
    with pytest.raises(ClientError) as raised:
        getattr(runtime, operation)(**request)
    message = raised.value.response["Error"]["Message"]
    assert message.startswith("1 validation error detected:")
    assert message.count("'userId'") == 1


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"numResults": 0}, "InvalidInputException"),
        ({"numResults": 501}, "InvalidInputException"),
        ({"numResults": 51, "metadataColumns": {"ITEMS": ["CATEGORY"]}}, "InvalidInputException"),
        (
            {"filterArn": BY_CATEGORY, "filterValues": {f"K{i}": '"a"' for i in range(26)}},
            "InvalidInputException",
        ),
        ({"filterArn": BY_CATEGORY}, "InvalidInputException"),  # INCLUDE needs $CATEGORY
        ({"filterArn": BROKEN}, "InvalidInputException"),
        ({"recommenderArn": RECOMMENDER}, "InvalidInputException"),  # both
        ({"campaignArn": None}, "InvalidInputException"),  # neither
        ({"userId": None}, "InvalidInputException"),
        ({"campaignArn": f"{ACCOUNT}:campaign/nope"}, "ResourceNotFoundException"),
        ({"campaignArn": None, "recommenderArn": f"{ACCOUNT}:recommender/nope"}, "ResourceNotFoundException"),
        ({"filterArn": f"{ACCOUNT}:filter/nope"}, "ResourceNotFoundException"),
    ],
    ids=[
        "numResults-0",
        "numResults-501",
        "metadata-over-50",
        "26-filterValues",
        "missing-include-value",
        "bad-filter-syntax",
        "both-arns",
        "no-arn",
        "no-userId",
        "unknown-campaign",
        "unknown-recommender",
        "unknown-filter",
    ],
)
def test_get_recommendations_rejects_what_the_real_api_rejects(
    runtime: Any, kwargs: dict[str, Any], expected: str
) -> None:
    request = {"campaignArn": CAMPAIGN, "userId": "u", **kwargs}
    request = {key: value for key, value in request.items() if value is not None}
    code, status = error_of(lambda: runtime.get_recommendations(**request))
    assert code == expected
    assert status == (404 if expected == "ResourceNotFoundException" else 400)


def test_bad_filter_syntax_message_says_what_is_wrong(runtime: Any) -> None:
    with pytest.raises(ClientError) as raised:
        runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u", filterArn=BROKEN)
    assert "LIKE" in raised.value.response["Error"]["Message"]


def test_put_items_and_put_users_errors(events: Any) -> None:
    eleven = [{"itemId": f"i{n}"} for n in range(11)]
    assert (
        error_of(lambda: events.put_items(datasetArn=ITEMS_DATASET, items=eleven))[0]
        == "InvalidInputException"
    )
    not_json = [{"itemId": "i", "properties": "{"}]
    assert (
        error_of(lambda: events.put_items(datasetArn=ITEMS_DATASET, items=not_json))[0]
        == "InvalidInputException"
    )
    users = [{"userId": "u"}]
    assert (
        error_of(lambda: events.put_users(datasetArn=ITEMS_DATASET, users=users))[0]
        == "InvalidInputException"
    )
    assert (
        error_of(lambda: events.put_users(datasetArn="not-an-arn", users=users))[0] == "InvalidInputException"
    )
    unknown = f"{ACCOUNT}:dataset/other/ITEMS"
    assert error_of(lambda: events.put_items(datasetArn=unknown, items=[{"itemId": "i"}])) == (
        "ResourceNotFoundException",
        404,
    )
