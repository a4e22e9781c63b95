"""Recommend: GetRecommendations requests for campaigns and recommenders, the result, errors, settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from segment_personalize.errors import (
    ConfigurationError,
)
from tests.contract import RECOMMENDATION_ERRORS

pytestmark = pytest.mark.unit

CAMPAIGN = "arn:aws:personalize:us-east-1:123456789012:campaign/shop"
RECOMMENDER = "arn:aws:personalize:us-east-1:123456789012:recommender/top-picks"
FILTER = "arn:aws:personalize:us-east-1:123456789012:filter/in-stock"


@pytest.fixture
def stubbed(load_app: Callable[..., ModuleType]) -> Iterator[Callable[..., tuple[ModuleType, Stubber]]]:
    """Load recommend with the given settings and attach a Stubber to its runtime client."""
    stubbers: list[Stubber] = []

    def load(**env: str) -> tuple[ModuleType, Stubber]:
        module = load_app("recommend", **env)
        stubber = Stubber(module.personalize.client)
        stubber.activate()
        stubbers.append(stubber)
        return module, stubber

    yield load
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def test_campaign_request_and_result(
    stubbed: Callable[..., tuple[ModuleType, Stubber]], lambda_context: Any
) -> None:
    # given a campaign and the default count of 10 (numResults: three times, at least 25)
    recommend, stubber = stubbed(PERSONALIZE_CAMPAIGN_ARN=CAMPAIGN)
    stubber.add_response(
        "get_recommendations",
        {
            "itemList": [{"itemId": "sku-1", "score": 0.12}, {"itemId": "sku-2", "score": 0.1}],
            "recommendationId": "RID-1",
        },
        {"campaignArn": CAMPAIGN, "userId": "u1", "numResults": 30},
    )
    # when
    result = recommend.lambda_handler({"messageId": "m1", "userId": "u1", "sessionId": "a1"}, lambda_context)
    # then
    assert result == {
        "messageId": "m1",
        "recommendationId": "RID-1",
        "items": [
            {"itemId": "sku-1", "score": 0.12, "metadata": {}},
            {"itemId": "sku-2", "score": 0.1, "metadata": {}},
        ],
    }
    json.dumps(result)  # the state machine stores it as JSON


def test_recommender_with_filter_values_metadata_and_num_results(
    stubbed: Callable[..., tuple[ModuleType, Stubber]], lambda_context: Any
) -> None:
    recommend, stubber = stubbed(
        PERSONALIZE_RECOMMENDER_ARN=RECOMMENDER,
        PERSONALIZE_NUM_RESULTS="50",
        PERSONALIZE_FILTER_ARN=FILTER,
        PERSONALIZE_FILTER_VALUES='{"CATEGORY": ["shoes", "12\\" boots"], "BRAND": "acme"}',
        PERSONALIZE_METADATA_COLUMNS="CATEGORY, PRICE",
    )
    stubber.add_response(
        "get_recommendations",
        {"itemList": [{"itemId": "sku-1", "metadata": {"category": "shoes|sale", "price": "20"}}]},
        {
            "recommenderArn": RECOMMENDER,
            "userId": "u1",
            "numResults": 50,
            "filterArn": FILTER,
            "filterValues": {"CATEGORY": '"shoes","12\\" boots"', "BRAND": '"acme"'},
            "metadataColumns": {"ITEMS": ["CATEGORY", "PRICE"]},
        },
    )
    result = recommend.lambda_handler({"messageId": "m1", "userId": "u1", "sessionId": "a1"}, lambda_context)
    # a recommender may return no score and no recommendationId: both null
    assert result == {
        "messageId": "m1",
        "recommendationId": None,
        "items": [{"itemId": "sku-1", "score": None, "metadata": {"category": "shoes|sale", "price": "20"}}],
    }


def test_metadata_columns_are_sent_for_a_campaign_too(
    stubbed: Callable[..., tuple[ModuleType, Stubber]], lambda_context: Any
) -> None:
    recommend, stubber = stubbed(
        PERSONALIZE_CAMPAIGN_ARN=CAMPAIGN, RECOMMENDATION_COUNT="20", PERSONALIZE_METADATA_COLUMNS="CATEGORY"
    )
    stubber.add_response(
        "get_recommendations",
        {"itemList": []},
        {
            "campaignArn": CAMPAIGN,
            "userId": "u1",
            "numResults": 50,  # three times the count would be 60; with metadata the API allows 50
            "metadataColumns": {"ITEMS": ["CATEGORY"]},
        },
    )
    result = recommend.lambda_handler({"messageId": "m1", "userId": "u1", "sessionId": "a1"}, lambda_context)
    assert result["items"] == []


def test_filter_without_values_sends_only_the_filter_arn(
    stubbed: Callable[..., tuple[ModuleType, Stubber]], lambda_context: Any
) -> None:
    recommend, stubber = stubbed(PERSONALIZE_CAMPAIGN_ARN=CAMPAIGN, PERSONALIZE_FILTER_ARN=FILTER)
    stubber.add_response(
        "get_recommendations",
        {"itemList": [{"itemId": "sku-3", "score": 1.0}]},
        {"campaignArn": CAMPAIGN, "userId": "u1", "numResults": 30, "filterArn": FILTER},
    )
    result = recommend.lambda_handler({"messageId": "m1", "userId": "u1", "sessionId": "a1"}, lambda_context)
    assert [item["itemId"] for item in result["items"]] == ["sku-3"]


def test_an_anonymous_visitor_is_recommended_for_by_session_id(
    stubbed: Callable[..., tuple[ModuleType, Stubber]], lambda_context: Any
) -> None:
    recommend, stubber = stubbed(PERSONALIZE_CAMPAIGN_ARN=CAMPAIGN)
    stubber.add_response(
        "get_recommendations",
        {"itemList": [{"itemId": "sku-1", "score": 0.3}], "recommendationId": "RID-2"},
        {"campaignArn": CAMPAIGN, "userId": "anon-7", "numResults": 30},
    )
    result = recommend.lambda_handler(
        {"messageId": "m1", "userId": None, "sessionId": "anon-7"}, lambda_context
    )
    assert result["recommendationId"] == "RID-2"


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    RECOMMENDATION_ERRORS,
)
def test_errors_surface_with_their_names(
    stubbed: Callable[..., tuple[ModuleType, Stubber]],
    lambda_context: Any,
    code: str,
    status: int,
    expected: type[Exception],
) -> None:
    recommend, stubber = stubbed(PERSONALIZE_RECOMMENDER_ARN=RECOMMENDER)
    stubber.add_client_error("get_recommendations", service_error_code=code, http_status_code=status)
    with pytest.raises(expected):
        recommend.lambda_handler({"messageId": "m1", "userId": "u1", "sessionId": "a1"}, lambda_context)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"PERSONALIZE_CAMPAIGN_ARN": CAMPAIGN, "PERSONALIZE_RECOMMENDER_ARN": RECOMMENDER},
        {"PERSONALIZE_CAMPAIGN_ARN": CAMPAIGN, "PERSONALIZE_FILTER_VALUES": '{"CATEGORY": ["shoes"]}'},
        {
            "PERSONALIZE_CAMPAIGN_ARN": CAMPAIGN,
            "PERSONALIZE_FILTER_ARN": FILTER,
            "PERSONALIZE_FILTER_VALUES": '{"CATEGORY": ["' + "x" * 1000 + '"]}',
        },
    ],
    ids=["neither-arn", "both-arns", "values-without-filter", "value-too-long"],
)
def test_bad_settings_fail_at_import(load_app: Callable[..., ModuleType], env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        load_app("recommend", **env)


def test_more_than_50_results_with_metadata_fails_at_cold_start(reload_module: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PERSONALIZE_CAMPAIGN_ARN", CAMPAIGN)
    monkeypatch.setenv("PERSONALIZE_METADATA_COLUMNS", "CATEGORY")
    monkeypatch.setenv("PERSONALIZE_NUM_RESULTS", "100")
    with pytest.raises(ConfigurationError, match="PERSONALIZE_NUM_RESULTS .100. must be at most 50"):
        reload_module("functions.recommend.app")
