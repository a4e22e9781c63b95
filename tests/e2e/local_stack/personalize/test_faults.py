"""Injected faults on the local Personalize, seen through unmodified boto3 clients and over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from local_stack.faults import inject_fault
from local_stack.personalize import PersonalizeService
from tests.e2e.local_stack.personalize.shop import (
    CAMPAIGN,
    TRACKING_ID,
    boto,
    error_of,
    event,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def test_throttled_twice_then_ok(service: PersonalizeService, events: Any) -> None:
    service.faults.add(target="PutEvents", error="ThrottlingException", count=2)
    send = lambda: events.put_events(trackingId=TRACKING_ID, sessionId="s", eventList=[event("hat")])  # noqa: E731
    assert error_of(send) == ("ThrottlingException", 400)
    assert error_of(send) == ("ThrottlingException", 400)
    send()
    assert service.query("SELECT count(*) AS n FROM events") == [{"n": 1}]
    assert [r["error_code"] for r in service.query("SELECT error_code FROM requests ORDER BY id")] == [
        "ThrottlingException",
        "ThrottlingException",
        None,
    ]


def test_faults_match_their_operation_only(service: PersonalizeService, events: Any, runtime: Any) -> None:
    service.faults.add(target="GetRecommendations", error="InternalServerError")
    events.put_events(trackingId=TRACKING_ID, sessionId="s", eventList=[event("hat")])
    assert error_of(lambda: runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u")) == (
        "InternalServerError",
        500,
    )
    assert runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u")["itemList"]
    assert service.faults.pending() == []


def test_sdk_retries_recover_from_an_injected_500(service: PersonalizeService) -> None:
    service.faults.add(target="GetRecommendations", error="InternalServerError", count=1)
    retrying = boto3.client(
        "personalize-runtime",
        endpoint_url=service.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "max_attempts": 2}),
    )
    answer = retrying.get_recommendations(campaignArn=CAMPAIGN, userId="u")
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1


def test_faults_over_http_from_another_process(service: PersonalizeService, events: Any) -> None:
    pending = inject_fault(service.url, operation="PutEvents", error="ThrottlingException", count=1)
    assert pending == [
        {
            "operation": "PutEvents",
            "error": "ThrottlingException",
            "count": 1,
            "delay_seconds": 0.0,
            "status": 400,
            "message": "Injected fault: ThrottlingException",
        }
    ]
    assert error_of(
        lambda: events.put_events(trackingId=TRACKING_ID, sessionId="s", eventList=[event("hat")])
    )[0] == ("ThrottlingException")
    inject_fault(service.url, operation="PutEvents", error="InternalServerError", count=3)
    request = urllib.request.Request(service.url + "/_local/faults", method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request) as response:  # noqa: S310
        assert json.loads(response.read()) == {"faults": []}
    with pytest.raises(urllib.error.HTTPError) as raised:
        inject_fault(service.url, operation="NoSuchOperation", error="ThrottlingException")
    assert raised.value.code == 400


def test_delay_fault_answers_slowly_and_can_time_a_client_out(
    service: PersonalizeService, runtime: Any
) -> None:
    service.faults.add(target="GetRecommendations", delay_seconds=0.3)
    started = time.monotonic()
    runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u")
    assert time.monotonic() - started >= 0.3
    service.faults.add(target="GetRecommendations", delay_seconds=1.5)
    impatient = boto("personalize-runtime", service.url, read_timeout=0.3)
    with pytest.raises(ReadTimeoutError):
        impatient.get_recommendations(campaignArn=CAMPAIGN, userId="u")
