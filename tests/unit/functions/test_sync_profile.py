"""SyncProfile: the identify that segment-analytics-python posts to a Segment API on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from segment.analytics.client import Client
from segment.analytics.request import APIError, DatetimeSerializer

from segment_personalize.adapters.segment_identify import MAX_MESSAGE_BYTES, SegmentIdentify, message_size
from segment_personalize.errors import ConfigurationError, SegmentUnavailable

pytestmark = pytest.mark.unit

WRITE_KEY = "write-key-abc"
#: The project's identify namespace; pinned so that a change (which would break deduplication) fails here.
NAMESPACE = uuid.UUID("daa00565-9c4a-5621-b8b0-8893763603d4")


@pytest.fixture
def sync_profile(load_app: Callable[..., ModuleType], http_server: Any) -> Callable[..., ModuleType]:
    def load(**env: str) -> ModuleType:
        settings = {"SEGMENT_WRITE_KEY": WRITE_KEY, "SEGMENT_HOST": http_server.url, "SEGMENT_TIMEOUT": "1"}
        return load_app("sync_profile", **(settings | env))

    return load


def payload(**fields: Any) -> dict[str, Any]:
    base = {
        "messageId": "m1",
        "userId": "u1",
        "anonymousId": "a1",
        "itemIds": ["sku-1", "sku-2"],
        "recommendationId": "RID-1",
    }
    return base | fields


def sent_messages(http_server: Any) -> list[dict[str, Any]]:
    return [message for request in http_server.requests for message in request.json()["batch"]]


def test_one_identify_is_posted_with_the_write_key_and_the_traits(
    sync_profile: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    # given
    module = sync_profile()
    before = datetime.now(UTC)
    # when
    result = module.lambda_handler(payload(), lambda_context)
    # then one POST to /v1/batch with basic auth "writeKey:"
    (request,) = http_server.requests
    assert request.method == "POST"
    assert request.path == "/v1/batch"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    (message,) = request.json()["batch"]
    expected_id = str(uuid.uuid5(NAMESPACE, "m1"))
    assert message["type"] == "identify"
    assert message["userId"] == "u1"
    assert message.get("anonymousId") is None
    assert message["messageId"] == expected_id
    traits = message["traits"]
    assert traits["recommended_products"] == ["sku-1", "sku-2"]
    assert traits["recommended_products_recommendation_id"] == "RID-1"
    updated_at = traits["recommended_products_updated_at"]
    assert updated_at.endswith("Z")
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(updated_at) <= datetime.now(UTC)
    assert result == {
        "messageId": "m1",
        "identifyMessageId": expected_id,
        "trait": "recommended_products",
        "count": 2,
        "trimmed": False,
    }


def test_an_anonymous_visitor_is_identified_by_anonymous_id_and_the_trait_name_is_configurable(
    sync_profile: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    module = sync_profile(RECOMMENDATION_TRAIT="for_you")
    result = module.lambda_handler(payload(userId=None, recommendationId=None), lambda_context)
    (message,) = sent_messages(http_server)
    assert message["anonymousId"] == "a1"
    assert message.get("userId") is None
    assert set(message["traits"]) == {"for_you", "for_you_recommendation_id", "for_you_updated_at"}
    assert message["traits"]["for_you_recommendation_id"] is None
    assert result["trait"] == "for_you"


def test_a_retried_step_reuses_the_identify_message_id(
    sync_profile: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    module = sync_profile()
    first = module.lambda_handler(payload(), lambda_context)
    again = module.lambda_handler(payload(), lambda_context)
    other = module.lambda_handler(payload(messageId="m2"), lambda_context)
    ids = [message["messageId"] for message in sent_messages(http_server)]
    assert ids[0] == ids[1] == first["identifyMessageId"] == again["identifyMessageId"]
    assert ids[2] == other["identifyMessageId"] != ids[0]


@pytest.mark.parametrize("status", [500, 503, 429, 400])
def test_a_refused_identify_is_segment_unavailable(
    sync_profile: Callable[..., ModuleType], http_server: Any, lambda_context: Any, status: int
) -> None:
    module = sync_profile()
    http_server.reply(status, {"code": "error", "message": "no"})
    with pytest.raises(SegmentUnavailable, match=f"HTTP {status}") as raised:
        module.lambda_handler(payload(), lambda_context)
    assert isinstance(raised.value.__cause__, APIError)
    assert WRITE_KEY not in str(raised.value)
    assert len(http_server.requests) == 1  # one attempt: the state machine retries


def test_an_unreachable_segment_is_segment_unavailable(
    sync_profile: Callable[..., ModuleType], closed_port_url: str, lambda_context: Any
) -> None:
    module = sync_profile(SEGMENT_HOST=closed_port_url)
    with pytest.raises(SegmentUnavailable, match="could not be reached") as raised:
        module.lambda_handler(payload(), lambda_context)
    assert isinstance(raised.value.__cause__, requests.ConnectionError)


def test_a_slow_segment_is_segment_unavailable(
    sync_profile: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    module = sync_profile(SEGMENT_TIMEOUT="0.2")
    http_server.reply(200, {}, delay=1.0)
    with pytest.raises(SegmentUnavailable, match="within 0.2 s") as raised:
        module.lambda_handler(payload(), lambda_context)
    assert isinstance(raised.value.__cause__, requests.Timeout)


def test_a_huge_item_list_is_trimmed_from_the_end_to_fit_32_kb(
    sync_profile: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    # given about 60 KB of item ids
    module = sync_profile()
    item_ids = [f"product-{n:08d}" for n in range(3000)]
    # when
    result = module.lambda_handler(payload(itemIds=item_ids), lambda_context)
    # then the message that arrived is at most 32 KB and keeps the first items, as many as fit
    (message,) = sent_messages(http_server)
    sent_ids = message["traits"]["recommended_products"]
    assert sent_ids == item_ids[: len(sent_ids)]
    assert result["count"] == len(sent_ids) < len(item_ids)
    assert result["trimmed"] is True
    assert len(json.dumps(message).encode()) <= MAX_MESSAGE_BYTES
    one_more = dict(
        message, traits=dict(message["traits"], recommended_products=item_ids[: len(sent_ids) + 1])
    )
    assert len(json.dumps(one_more).encode()) > MAX_MESSAGE_BYTES


def test_an_empty_item_list_clears_the_trait(
    sync_profile: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    module = sync_profile()
    result = module.lambda_handler(payload(itemIds=[]), lambda_context)
    (message,) = sent_messages(http_server)
    assert message["traits"]["recommended_products"] == []
    assert result["count"] == 0
    assert result["trimmed"] is False


def test_message_size_matches_the_library_own_measure() -> None:
    # given the same identify measured by us and prepared (not sent) by the library
    now = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    traits = {"recommended_products": ["sku-é", 'q"uote'], "x_recommendation_id": None}
    preview = Client(WRITE_KEY, send=False, sync_mode=True)
    _, library_message = preview.identify(
        user_id="u1", traits=dict(traits), message_id="mid", timestamp=now, anonymous_id=None
    )
    library_size = len(json.dumps(library_message, cls=DatetimeSerializer).encode())
    ours = message_size(user_id="u1", anonymous_id=None, traits=traits, message_id="mid", timestamp=now)
    assert ours == library_size


@pytest.mark.parametrize(("send", "sync_mode"), [(False, True), (False, False)])
def test_the_adapter_refuses_a_client_that_would_not_send_at_once(send: bool, sync_mode: bool) -> None:
    with pytest.raises(ConfigurationError, match="sync_mode=True and send=True"):
        SegmentIdentify(Client(WRITE_KEY, send=send, sync_mode=sync_mode))


def test_the_write_key_can_come_from_secrets_manager(
    load_app: Callable[..., ModuleType], http_server: Any, lambda_context: Any
) -> None:
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="write-key", SecretString="secret-write-key"
        )["ARN"]
        module = load_app("sync_profile", SEGMENT_WRITE_KEY_SECRET_ARN=arn, SEGMENT_HOST=http_server.url)
    module.lambda_handler(payload(), lambda_context)
    expected = "Basic " + base64.b64encode(b"secret-write-key:").decode()
    assert http_server.requests[0].headers["authorization"] == expected


def test_no_write_key_fails_at_import(load_app: Callable[..., ModuleType]) -> None:
    with pytest.raises(ConfigurationError, match="SEGMENT_WRITE_KEY"):
        load_app("sync_profile")
