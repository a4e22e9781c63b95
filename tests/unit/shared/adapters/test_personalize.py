"""The Personalize adapters: field limits, error translation, filterValues quoting, answer parsing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from segment_personalize.adapters.personalize import (
    PersonalizeEvents,
    PersonalizeRecommendations,
    quote_filter_values,
)
from segment_personalize.errors import (
    ConfigurationError,
    PermissionDenied,
    PersonalizeRejected,
    PersonalizeThrottled,
    PersonalizeUnavailable,
)
from tests.contract import RECOMMENDATION_ERRORS

pytestmark = pytest.mark.unit

NO_RETRY = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1, read_timeout=1)
SENT_AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default endpoints (fake credentials come from tests/conftest.py); the Stubber answers every call."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_PERSONALIZE_EVENTS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME", raising=False)


@pytest.fixture(scope="module")
def clients() -> dict[str, Any]:
    """One client per service for the module (building one takes a while); each test stubs it anew.

    Module-scoped, so it runs before the per-test fake credentials: it brings its own, or botocore would
    look for credentials on the instance metadata endpoint (a network call pytest-socket refuses)."""
    session = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return {
        "personalize-events": session.client(
            "personalize-events", config=NO_RETRY, endpoint_url="https://personalize-events.invalid"
        ),
        "personalize-runtime": session.client(
            "personalize-runtime", config=NO_RETRY, endpoint_url="https://personalize-runtime.invalid"
        ),
    }


@pytest.fixture
def events(clients: dict[str, Any]) -> Iterator[tuple[PersonalizeEvents, Stubber]]:
    adapter = PersonalizeEvents(clients["personalize-events"])
    with Stubber(adapter.client) as stubber:
        yield adapter, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def runtime(clients: dict[str, Any]) -> Iterator[tuple[PersonalizeRecommendations, Stubber]]:
    adapter = PersonalizeRecommendations(clients["personalize-runtime"])
    with Stubber(adapter.client) as stubber:
        yield adapter, stubber
        stubber.assert_no_pending_responses()


def event(**fields: Any) -> dict[str, Any]:
    return {"eventId": "m1", "eventType": "Product Viewed", "itemId": "sku-1", "sentAt": SENT_AT, **fields}


def put(adapter: PersonalizeEvents, events: list[dict[str, Any]], **overrides: Any) -> int:
    args: dict[str, Any] = {"tracking_id": "tid", "session_id": "a1", "user_id": "u1", "events": events}
    return adapter.put_events(**{**args, **overrides})


# --- field limits -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "event_fields", "named"),
    [
        ({}, {"eventId": "e" * 257}, "eventList[0].eventId"),
        ({}, {"eventId": ""}, "eventList[0].eventId"),
        ({}, {"eventType": "t" * 257}, "eventList[0].eventType"),
        ({}, {"itemId": "i" * 257}, "eventList[0].itemId"),
        ({}, {"recommendationId": "r" * 41}, "eventList[0].recommendationId"),
        ({}, {"impression": [f"sku-{n}" for n in range(26)]}, "eventList[0].impression"),
        ({}, {"impression": []}, "eventList[0].impression"),
        ({}, {"impression": ["ok", "x" * 257]}, "eventList[0].impression[1]"),
        ({}, {"properties": '{"a": "' + "x" * 1020 + '"}'}, "eventList[0].properties"),
        ({"user_id": "u" * 257}, {}, "PutEvents userId"),
        ({"session_id": "s" * 257}, {}, "PutEvents sessionId"),
    ],
)
def test_a_field_over_its_limit_is_rejected_by_name_before_any_call(
    events: tuple[PersonalizeEvents, Stubber],
    overrides: dict[str, Any],
    event_fields: dict[str, Any],
    named: str,
) -> None:
    adapter, _ = events  # no response is stubbed: any call would fail with a different error
    with pytest.raises(PersonalizeRejected, match=named.replace("[", r"\[").replace("]", r"\]")):
        put(adapter, [event(**event_fields)], **overrides)


def test_an_invalid_event_in_a_later_batch_sends_nothing(events: tuple[PersonalizeEvents, Stubber]) -> None:
    adapter, _ = events
    batch = [event(eventId=f"m1-{n}") for n in range(11)] + [event(eventId="m1-11", itemId="i" * 300)]
    with pytest.raises(PersonalizeRejected, match=r"eventList\[11\]\.itemId is 300 characters"):
        put(adapter, batch)


def test_values_at_the_limits_are_sent(events: tuple[PersonalizeEvents, Stubber]) -> None:
    adapter, stubber = events
    at_limit = event(
        eventId="e" * 256,
        itemId="i" * 256,
        recommendationId="r" * 40,
        impression=[f"{n:0>256}" for n in range(25)],
    )
    stubber.add_response(
        "put_events",
        {},
        {"trackingId": "tid", "sessionId": "a1", "userId": "u" * 256, "eventList": [at_limit]},
    )
    assert put(adapter, [at_limit], user_id="u" * 256) == 1


def test_the_rejection_message_carries_no_id_values(events: tuple[PersonalizeEvents, Stubber]) -> None:
    adapter, _ = events
    secret_item = "customer-email@example.com" * 20
    with pytest.raises(PersonalizeRejected) as raised:
        put(adapter, [event(itemId=secret_item)])
    assert "example.com" not in str(raised.value)


# --- error translation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, PersonalizeThrottled),
        ("TooManyRequestsException", 429, PersonalizeThrottled),
        ("LimitExceededException", 400, PersonalizeThrottled),
        ("SlowDown", 429, PersonalizeThrottled),
        ("InternalServerError", 500, PersonalizeUnavailable),
        ("ServiceUnavailable", 503, PersonalizeUnavailable),
        ("BadGateway", 502, PersonalizeUnavailable),
        ("InvalidInputException", 400, PersonalizeRejected),
        ("ResourceNotFoundException", 404, PersonalizeRejected),
        # an operator's fix, not the event's fault (issue 12): a configuration error naming the permission
        ("AccessDeniedException", 403, PermissionDenied),
        ("ValidationException", 400, PersonalizeRejected),
        ("ResourceInUseException", 400, PersonalizeRejected),
    ],
)
def test_put_events_client_errors_become_domain_errors(
    events: tuple[PersonalizeEvents, Stubber], code: str, status: int, expected: type[Exception]
) -> None:
    adapter, stubber = events
    stubber.add_client_error(
        "put_events", service_error_code=code, service_message="no", http_status_code=status
    )
    with pytest.raises(expected) as raised:
        put(adapter, [event()])
    assert isinstance(raised.value.__cause__, ClientError)
    assert code in str(raised.value)
    assert type(raised.value).__name__ == expected.__name__


def test_an_access_denied_call_names_the_permission_the_role_lacks(
    events: tuple[PersonalizeEvents, Stubber], runtime: tuple[PersonalizeRecommendations, Stubber]
) -> None:
    adapter, stubber = events
    stubber.add_client_error("put_events", service_error_code="AccessDeniedException", http_status_code=403)
    with pytest.raises(PermissionDenied, match="personalize:PutEvents was denied"):
        put(adapter, [event()])
    recommendations, runtime_stubber = runtime
    runtime_stubber.add_client_error(
        "get_recommendations", service_error_code="AccessDeniedException", http_status_code=403
    )
    with pytest.raises(PermissionDenied, match="personalize:GetRecommendations was denied") as raised:
        recommendations.get_recommendations(user_id="u1", num_results=5, campaign_arn=CAMPAIGN)
    assert isinstance(raised.value, ConfigurationError)  # a configuration error, not a rejected event


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    RECOMMENDATION_ERRORS,
)
def test_get_recommendations_client_errors_become_domain_errors(
    runtime: tuple[PersonalizeRecommendations, Stubber], code: str, status: int, expected: type[Exception]
) -> None:
    adapter, stubber = runtime
    stubber.add_client_error("get_recommendations", service_error_code=code, http_status_code=status)
    with pytest.raises(expected) as raised:
        adapter.get_recommendations(user_id="u1", num_results=25, campaign_arn=CAMPAIGN)
    assert isinstance(raised.value.__cause__, ClientError)


@pytest.mark.parametrize(
    "failure",
    [
        EndpointConnectionError(endpoint_url="https://personalize-events.us-east-1.amazonaws.com/events"),
        ConnectTimeoutError(endpoint_url="https://personalize-events.us-east-1.amazonaws.com/events"),
        ReadTimeoutError(endpoint_url="https://personalize-events.us-east-1.amazonaws.com/events"),
    ],
    ids=["endpoint-connection", "connect-timeout", "read-timeout"],
)
def test_network_failures_become_personalize_unavailable(aws_env: None, failure: Exception) -> None:
    # given a client whose HTTP layer fails the way botocore reports it
    client = boto3.session.Session().client("personalize-events", config=NO_RETRY)

    def fail(**_: Any) -> None:
        raise failure

    client.meta.events.register("before-send.personalize-events.PutEvents", fail)
    # when / then
    with pytest.raises(PersonalizeUnavailable, match=type(failure).__name__) as raised:
        put(PersonalizeEvents(client), [event()])
    assert raised.value.__cause__ is failure


def test_a_closed_endpoint_on_loopback_is_personalize_unavailable(
    aws_env: None, closed_port_url: str
) -> None:
    client = boto3.session.Session().client(
        "personalize-runtime", config=NO_RETRY, endpoint_url=closed_port_url
    )
    with pytest.raises(PersonalizeUnavailable) as raised:
        PersonalizeRecommendations(client).get_recommendations(
            user_id="u1", num_results=25, campaign_arn=CAMPAIGN
        )
    assert isinstance(raised.value.__cause__, EndpointConnectionError)


# --- GetRecommendations -----------------------------------------------------------------------------------
CAMPAIGN = "arn:aws:personalize:us-east-1:123456789012:campaign/shop"
RECOMMENDER = "arn:aws:personalize:us-east-1:123456789012:recommender/top-picks"


def test_get_recommendations_parses_scores_metadata_and_recommendation_id(
    runtime: tuple[PersonalizeRecommendations, Stubber],
) -> None:
    adapter, stubber = runtime
    stubber.add_response(
        "get_recommendations",
        {
            "itemList": [
                {"itemId": "sku-1", "score": 0.5, "metadata": {"CATEGORY": "shoes|sale"}},
                {"itemId": "sku-2"},
            ],
            "recommendationId": "RID-9",
        },
        {"recommenderArn": RECOMMENDER, "userId": "u1", "numResults": 40},
    )
    answer = adapter.get_recommendations(user_id="u1", num_results=40, recommender_arn=RECOMMENDER)
    assert answer.recommendation_id == "RID-9"
    assert [item.to_dict() for item in answer.items] == [
        {"itemId": "sku-1", "score": 0.5, "metadata": {"CATEGORY": "shoes|sale"}},
        {"itemId": "sku-2", "score": None, "metadata": {}},
    ]


def test_get_recommendations_without_recommendation_id_gives_none(
    runtime: tuple[PersonalizeRecommendations, Stubber],
) -> None:
    adapter, stubber = runtime
    stubber.add_response("get_recommendations", {"itemList": []})
    answer = adapter.get_recommendations(user_id="u1", num_results=25, campaign_arn=CAMPAIGN)
    assert answer.recommendation_id is None
    assert answer.items == []


def test_get_recommendations_needs_exactly_one_arn(
    runtime: tuple[PersonalizeRecommendations, Stubber],
) -> None:
    adapter, _ = runtime
    with pytest.raises(ConfigurationError):
        adapter.get_recommendations(user_id="u1", num_results=25)
    with pytest.raises(ConfigurationError):
        adapter.get_recommendations(
            user_id="u1", num_results=25, campaign_arn=CAMPAIGN, recommender_arn=RECOMMENDER
        )


def test_get_recommendations_rejects_a_user_id_over_256(
    runtime: tuple[PersonalizeRecommendations, Stubber],
) -> None:
    adapter, _ = runtime
    with pytest.raises(PersonalizeRejected, match="userId is 257 characters"):
        adapter.get_recommendations(user_id="u" * 257, num_results=25, campaign_arn=CAMPAIGN)


# --- filterValues -----------------------------------------------------------------------------------------
def test_filter_values_are_quoted_comma_separated_lists() -> None:
    assert quote_filter_values({"CATEGORY": ["shoes", "bags"], "BRAND": ["acme"]}) == {
        "CATEGORY": '"shoes","bags"',
        "BRAND": '"acme"',
    }


def test_filter_values_escape_embedded_quotes_and_backslashes() -> None:
    assert quote_filter_values({"NAME": ['12" pizza', "a\\b"]}) == {"NAME": '"12\\" pizza","a\\\\b"'}


def test_filter_values_past_personalize_limits_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="1000"):
        quote_filter_values({"CATEGORY": ["x" * 999]})
    with pytest.raises(ConfigurationError, match="key"):
        quote_filter_values({"K" * 51: ["x"]})
    with pytest.raises(ConfigurationError):
        quote_filter_values({"CATEGORY": []})
