"""FilterTraits: Profile API requests over real HTTP to 127.0.0.1, trait rules, answers turned into errors."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from segment_personalize.errors import (
    ConfigurationError,
    ProfileApiRejected,
    ProfileApiThrottled,
    ProfileApiUnavailable,
)

pytestmark = pytest.mark.unit

SPACE = "spa_123"
TOKEN = "profile-token-s3cr3t"
RULES = json.dumps(
    [{"exclude": "purchased_products"}, {"keep_if": "category", "in_trait": "favorite_departments"}]
)


def items(*specs: tuple[str, dict[str, str]]) -> list[dict[str, Any]]:
    return [{"itemId": item_id, "score": 0.1, "metadata": metadata} for item_id, metadata in specs]


CATALOGUE = items(
    ("sku-1", {"CATEGORY": "Shoes"}),
    ("sku-2", {"CATEGORY": "bags|Sale"}),
    ("sku-3", {"CATEGORY": "hats"}),
    ("sku-4", {"CATEGORY": "shoes"}),
    ("sku-5", {}),
)


@pytest.fixture
def configured(load_app: Callable[..., ModuleType], http_server: Any) -> Callable[..., ModuleType]:
    def load(**env: str) -> ModuleType:
        settings = {
            "SEGMENT_SPACE_ID": SPACE,
            "SEGMENT_PROFILE_TOKEN": TOKEN,
            "SEGMENT_PROFILE_API_URL": http_server.url,
            "SEGMENT_PROFILE_API_TIMEOUT": "0.5",
            "FILTER_RULES": RULES,
        }
        return load_app("filter_traits", **(settings | env))

    return load


def payload(
    user_id: str | None = "u1", anonymous_id: str | None = "a1", item_list: Any = None
) -> dict[str, Any]:
    return {
        "messageId": "m1",
        "userId": user_id,
        "anonymousId": anonymous_id,
        "items": CATALOGUE if item_list is None else item_list,
    }


def test_without_profile_api_items_pass_through_cut_to_the_count(
    load_app: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    filter_traits = load_app(
        "filter_traits", RECOMMENDATION_COUNT="3", SEGMENT_PROFILE_API_URL=http_server.url
    )
    result = filter_traits.lambda_handler(payload(), lambda_context)
    assert result == {
        "messageId": "m1",
        "itemIds": ["sku-1", "sku-2", "sku-3"],
        "profile": "not_configured",
        "removed": {},
    }
    assert http_server.requests == []


def test_profile_request_path_query_and_basic_auth(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    # given a user id that needs URL encoding
    filter_traits = configured()
    http_server.reply(200, {"traits": {}, "cursor": {"has_more": False}})
    # when
    result = filter_traits.lambda_handler(payload(user_id="jane doe/1@x.com"), lambda_context)
    # then
    (request,) = http_server.requests
    assert request.method == "GET"
    assert (
        request.path == f"/v1/spaces/{SPACE}/collections/users/profiles/user_id:jane%20doe%2F1%40x.com/traits"
    )
    assert request.query["limit"] == ["200"]
    assert request.query["include"] == ["favorite_departments,purchased_products"]
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()
    assert result["profile"] == "found"


def test_an_anonymous_visitor_is_looked_up_by_anonymous_id(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    filter_traits = configured()
    http_server.reply(200, {"traits": {"purchased_products": ["sku-1"]}, "cursor": {}})
    result = filter_traits.lambda_handler(payload(user_id=None, anonymous_id="anon 7"), lambda_context)
    assert http_server.requests[0].path.endswith("/profiles/anonymous_id:anon%207/traits")
    assert result["itemIds"] == ["sku-2", "sku-3", "sku-4", "sku-5"]


def test_exclude_and_keep_rules_with_list_string_and_multi_value_metadata(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    # given a purchase list and favourite departments as a comma-separated string, in other letter cases
    filter_traits = configured()
    http_server.reply(
        200,
        {
            "traits": {
                "purchased_products": ["sku-4"],
                "favorite_departments": "SHOES, Sale",
                "email": "j@x.com",
            },
            "cursor": {"has_more": False},
        },
    )
    # when
    result = filter_traits.lambda_handler(payload(), lambda_context)
    # then sku-4 is bought; sku-3 (hats) and sku-5 (no category) are not among the favourites
    assert result == {
        "messageId": "m1",
        "itemIds": ["sku-1", "sku-2"],
        "profile": "found",
        "removed": {"exclude purchased_products": 1, "keep category in favorite_departments": 2},
    }


def test_a_comma_separated_exclude_trait_and_the_cut_after_the_rules(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    filter_traits = configured(RECOMMENDATION_COUNT="2", FILTER_RULES='[{"exclude": "purchased_products"}]')
    http_server.reply(200, {"traits": {"purchased_products": "sku-1,sku-3"}, "cursor": {}})
    result = filter_traits.lambda_handler(payload(), lambda_context)
    assert result["itemIds"] == ["sku-2", "sku-4"]
    assert result["removed"] == {"exclude purchased_products": 2}


def test_a_rule_whose_trait_is_missing_is_skipped(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    filter_traits = configured()
    http_server.reply(200, {"traits": {"purchased_products": ["sku-2"]}, "cursor": {}})
    result = filter_traits.lambda_handler(payload(), lambda_context)
    assert result["itemIds"] == ["sku-1", "sku-3", "sku-4", "sku-5"]
    assert result["removed"] == {"exclude purchased_products": 1}


def test_an_unknown_profile_keeps_every_item(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    filter_traits = configured(RECOMMENDATION_COUNT="4")
    http_server.reply(404, {"error": "not found"})
    result = filter_traits.lambda_handler(payload(), lambda_context)
    assert result == {
        "messageId": "m1",
        "itemIds": ["sku-1", "sku-2", "sku-3", "sku-4"],
        "profile": "not_found",
        "removed": {},
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, ProfileApiThrottled),
        (500, ProfileApiUnavailable),
        (503, ProfileApiUnavailable),
        (401, ProfileApiRejected),
        (403, ProfileApiRejected),
        (400, ProfileApiRejected),
    ],
)
def test_answers_become_named_errors(
    configured: Callable[..., ModuleType],
    http_server: Any,
    lambda_context: Any,
    status: int,
    expected: type[Exception],
) -> None:
    filter_traits = configured()
    http_server.reply(status, {"error": "no"})
    with pytest.raises(expected) as raised:
        filter_traits.lambda_handler(payload(), lambda_context)
    assert str(status) in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_a_429_is_throttled_not_unavailable_and_names_segments_code(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    # the Profile API's 429 body (https://segment.com/docs/unify/profile-api/, "Errors")
    filter_traits = configured()
    body = {"error": {"code": "rate_limit_error", "message": "Too many requests hit the API too quickly."}}
    http_server.reply(429, body)
    with pytest.raises(ProfileApiThrottled, match="429 rate_limit_error") as raised:
        filter_traits.lambda_handler(payload(), lambda_context)
    assert not isinstance(raised.value, ProfileApiUnavailable)
    assert "retry after" not in str(raised.value)


def test_a_429_is_not_waited_for_even_when_it_asks(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    # a Retry-After longer than the function's 5 s: reported, never slept on inside the step
    filter_traits = configured()
    http_server.reply(429, {"error": {"code": "rate_limit_error"}}, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(ProfileApiThrottled, match="asked to retry after 30 s"):
        filter_traits.lambda_handler(payload(), lambda_context)
    assert time.monotonic() - started < 1.0
    assert len(http_server.requests) == 1  # one attempt: the state machine owns retries


def test_401_says_to_check_the_token(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    filter_traits = configured()
    http_server.reply(401, {"error": "unauthorized"})
    with pytest.raises(ProfileApiRejected, match="check the Profile API access token"):
        filter_traits.lambda_handler(payload(), lambda_context)


def test_a_slow_profile_api_is_unavailable(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    filter_traits = configured(SEGMENT_PROFILE_API_TIMEOUT="0.2")
    http_server.reply(200, {"traits": {}}, delay=1.0)
    with pytest.raises(ProfileApiUnavailable, match="within 0.2 s") as raised:
        filter_traits.lambda_handler(payload(), lambda_context)
    assert isinstance(raised.value.__cause__, requests.Timeout)


def test_an_unreachable_profile_api_is_unavailable(
    configured: Callable[..., ModuleType], closed_port_url: str, lambda_context: Any
) -> None:
    filter_traits = configured(SEGMENT_PROFILE_API_URL=closed_port_url)
    with pytest.raises(ProfileApiUnavailable) as raised:
        filter_traits.lambda_handler(payload(), lambda_context)
    assert isinstance(raised.value.__cause__, requests.ConnectionError)


def test_a_200_without_traits_is_unavailable(
    configured: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    filter_traits = configured()
    http_server.reply(200, b"<html>gateway</html>")
    with pytest.raises(ProfileApiUnavailable, match="not JSON"):
        filter_traits.lambda_handler(payload(), lambda_context)


def test_the_token_can_come_from_secrets_manager(
    load_app: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="profile-token", SecretString="from-the-secret"
        )["ARN"]
        filter_traits = load_app(
            "filter_traits",
            SEGMENT_SPACE_ID=SPACE,
            SEGMENT_PROFILE_TOKEN_SECRET_ARN=arn,
            SEGMENT_PROFILE_API_URL=http_server.url,
        )
    http_server.reply(200, {"traits": {}})
    filter_traits.lambda_handler(payload(), lambda_context)
    expected = "Basic " + base64.b64encode(b"from-the-secret:").decode()
    assert http_server.requests[0].headers["authorization"] == expected


def test_a_space_without_a_token_fails_at_import(load_app: Callable[..., ModuleType]) -> None:
    with pytest.raises(ConfigurationError, match="SEGMENT_PROFILE_TOKEN"):
        load_app("filter_traits", SEGMENT_SPACE_ID=SPACE)
