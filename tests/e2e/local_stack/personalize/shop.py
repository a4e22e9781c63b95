"""The shop the local Personalize e2e tests run against: its resources, the service serving them, and boto3
clients and calls on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_stack.personalize import PersonalizeService

ACCOUNT = "arn:aws:personalize:us-east-1:123456789012"
TRACKING_ID = "tracking-1"
CAMPAIGN = f"{ACCOUNT}:campaign/user-personalization"
RECOMMENDER = f"{ACCOUNT}:recommender/top-picks"
ITEMS_DATASET = f"{ACCOUNT}:dataset/shop/ITEMS"
USERS_DATASET = f"{ACCOUNT}:dataset/shop/USERS"
BY_CATEGORY = f"{ACCOUNT}:filter/by-category"
NOT_CHEAP = f"{ACCOUNT}:filter/not-cheap"
NOT_PURCHASED = f"{ACCOUNT}:filter/not-purchased"
BROKEN = f"{ACCOUNT}:filter/broken"
FILTERS = {
    BY_CATEGORY: "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)",
    NOT_CHEAP: 'EXCLUDE ItemID WHERE Items.CATEGORY IN ("sale", "clearance")',
    NOT_PURCHASED: 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Order Completed")',
    BROKEN: 'INCLUDE ItemID WHERE Items.CATEGORY LIKE "shoe%"',
}
ITEMS: dict[str, dict[str, object]] = {
    "boots": {"CATEGORY": "shoes", "PRICE": 89.5},
    "laces": {"CATEGORY": "shoes", "PRICE": 3},
    "sandals": {"CATEGORY": "shoes|sale", "PRICE": 19.99},
    "tote": {"CATEGORY": "bags", "PRICE": 45},
    "wallet": {"CATEGORY": "bags|clearance", "PRICE": 25},
    "hat": {"CATEGORY": "hats", "PRICE": 15},
}
T0 = 1_700_000_000.0


def make_service(db_path: Path | None = None) -> PersonalizeService:
    return PersonalizeService(
        db_path,
        tracking_ids=[TRACKING_ID],
        campaigns=[CAMPAIGN],
        recommenders=[RECOMMENDER],
        filters=FILTERS,
        items=ITEMS,
        datasets=[ITEMS_DATASET, USERS_DATASET],
    )


def boto(service_name: str, url: str, **config: Any) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service_name,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


def event(item_id: str, event_type: str = "Order Completed", ts: float = T0, **extra: Any) -> dict[str, Any]:
    return {"eventType": event_type, "itemId": item_id, "sentAt": ts, **extra}


def buy(events: Any, user: str, *items: str, session: str | None = None) -> None:
    events.put_events(
        trackingId=TRACKING_ID,
        userId=user,
        sessionId=session or f"session-{user}",
        eventList=[event(item, ts=T0 + i) for i, item in enumerate(items)],
    )


def item_ids(answer: dict[str, Any], key: str = "itemList") -> list[str]:
    return [entry["itemId"] for entry in answer[key]]


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]
