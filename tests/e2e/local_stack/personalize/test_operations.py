"""The local Personalize through unmodified boto3 clients on loopback: what it learns, stores and answers."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_stack.personalize import PersonalizeService
from tests.e2e.local_stack.personalize.shop import (
    BY_CATEGORY,
    CAMPAIGN,
    ITEMS,
    ITEMS_DATASET,
    NOT_CHEAP,
    NOT_PURCHASED,
    RECOMMENDER,
    T0,
    TRACKING_ID,
    USERS_DATASET,
    boto,
    buy,
    event,
    item_ids,
    make_service,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def test_learns_co_purchases_from_put_events_and_recommends(
    service: PersonalizeService, events: Any, runtime: Any
) -> None:
    # given shoppers who bought boots with laces, and more shoppers of hats
    for n in range(3):
        buy(events, f"boot-buyer-{n}", "boots", "laces")
    for n in range(5):
        buy(events, f"hat-buyer-{n}", "hat")
    # when a new shopper buys boots
    buy(events, "me", "boots")
    answer = runtime.get_recommendations(campaignArn=CAMPAIGN, userId="me", numResults=3)
    # then laces come first, boots never, scores sum to 1, and the id fits PutEvents' recommendationId
    assert item_ids(answer)[0] == "laces"
    assert "boots" not in item_ids(answer)
    assert len(answer["itemList"]) == 3
    assert sum(entry["score"] for entry in answer["itemList"]) == pytest.approx(1.0)
    assert answer["recommendationId"].startswith("RID-")
    assert len(answer["recommendationId"]) <= 40
    # a cold user gets the most popular items (hat: five orders)
    cold = runtime.get_recommendations(recommenderArn=RECOMMENDER, userId="stranger", numResults=1)
    assert item_ids(cold) == ["hat"]
    # and everything is in SQLite
    stored = service.query("SELECT user_id, item_id, event_type, sent_at FROM events WHERE user_id = 'me'")
    assert stored == [{"user_id": "me", "item_id": "boots", "event_type": "Order Completed", "sent_at": T0}]
    served = service.query("SELECT recommendation_id, user_id, item_list FROM recommendations")
    assert [row["user_id"] for row in served] == ["me", "stranger"]
    assert json.loads(served[0]["item_list"]) == answer["itemList"]


def test_put_events_stores_every_field_and_the_raw_request(service: PersonalizeService, events: Any) -> None:
    events.put_events(
        trackingId=TRACKING_ID,
        userId="u1",
        sessionId="anon-1",
        eventList=[
            {
                "eventId": "m1-0",
                "eventType": "Order Completed",
                "eventValue": 19.99,
                "itemId": "boots",
                "sentAt": 1700000000.123,
                "properties": json.dumps({"discount": "10"}),
                "recommendationId": "RID-1",
                "impression": ["boots", "laces"],
                "metricAttribution": {"eventAttributionSource": "email"},
            }
        ],
    )
    (row,) = service.query("SELECT * FROM events")
    assert row["event_id"] == "m1-0"
    assert row["session_id"] == "anon-1"
    assert row["event_value"] == 19.99
    assert row["sent_at"] == pytest.approx(1700000000.123)
    assert json.loads(row["properties"]) == {"discount": "10"}
    assert json.loads(row["impression"]) == ["boots", "laces"]
    assert row["recommendation_id"] == "RID-1"
    assert row["metric_attribution_source"] == "email"
    (request,) = service.query("SELECT * FROM requests WHERE id = ?", [row["request_id"]])
    assert request["operation"] == "PutEvents"
    assert request["status"] == 200
    assert json.loads(request["body"])["eventList"][0]["eventId"] == "m1-0"


def test_clients_find_the_service_through_the_standard_environment_variables(
    service: PersonalizeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in service.endpoint_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    boto3.client("personalize-events").put_events(
        trackingId=TRACKING_ID, userId="env-user", sessionId="s", eventList=[event("tote")]
    )
    answer = boto3.client("personalize-runtime").get_recommendations(campaignArn=CAMPAIGN, userId="env-user")
    assert "tote" not in item_ids(answer)
    assert len(answer["itemList"]) == len(ITEMS) - 1  # every other catalog item, default numResults 25


def test_sessions_then_linking_to_the_user(service: PersonalizeService, events: Any, runtime: Any) -> None:
    for n in range(2):
        buy(events, f"buyer-{n}", "tote", "wallet")
    # given an anonymous visitor who viewed the tote (sessionId only)
    events.put_events(trackingId=TRACKING_ID, sessionId="anon-9", eventList=[event("tote", "Product Viewed")])
    # then recommendations for the session work and know the tote
    anonymous = runtime.get_recommendations(campaignArn=CAMPAIGN, userId="anon-9", numResults=2)
    assert item_ids(anonymous)[0] == "wallet"
    assert "tote" not in item_ids(anonymous)
    # when the visitor signs in, the session's history becomes the user's
    events.put_events(
        trackingId=TRACKING_ID, userId="jane", sessionId="anon-9", eventList=[event("hat", "Product Viewed")]
    )
    known = runtime.get_recommendations(campaignArn=CAMPAIGN, userId="jane", numResults=10)
    assert "tote" not in item_ids(known)
    assert "hat" not in item_ids(known)
    assert item_ids(known)[0] == "wallet"


def test_put_items_adds_to_the_catalog_and_metadata_comes_back_in_lower_case(
    service: PersonalizeService, events: Any, runtime: Any
) -> None:
    events.put_items(
        datasetArn=ITEMS_DATASET,
        items=[
            {
                "itemId": "scarf",
                "properties": json.dumps({"category": "hats", "price": 12.5, "inStock": True}),
            }
        ],
    )
    events.put_users(datasetArn=USERS_DATASET, users=[{"userId": "u1", "properties": '{"tier": "gold"}'}])
    answer = runtime.get_recommendations(
        campaignArn=CAMPAIGN,
        userId="u1",
        numResults=10,
        metadataColumns={"ITEMS": ["CATEGORY", "PRICE", "IN_STOCK"]},
    )
    by_id = {entry["itemId"]: entry for entry in answer["itemList"]}
    assert by_id["scarf"]["metadata"] == {"category": "hats", "price": "12.5", "in_stock": "true"}
    assert by_id["sandals"]["metadata"] == {"category": "shoes|sale", "price": "19.99"}
    assert service.item("scarf") == {"CATEGORY": "hats", "PRICE": 12.5, "IN_STOCK": True}
    assert service.query("SELECT user_id, properties FROM users") == [
        {"user_id": "u1", "properties": '{"tier": "gold"}'}
    ]
    plain = runtime.get_recommendations(campaignArn=CAMPAIGN, userId="u1", numResults=2)
    assert all("metadata" not in entry for entry in plain["itemList"])


def test_filters_with_filter_values(events: Any, runtime: Any) -> None:
    buy(events, "me", "boots")

    def recommend(**kwargs: Any) -> list[str]:
        return item_ids(
            runtime.get_recommendations(campaignArn=CAMPAIGN, userId="me", numResults=25, **kwargs)
        )

    assert sorted(recommend(filterArn=BY_CATEGORY, filterValues={"CATEGORY": '"bags"'})) == ["tote", "wallet"]
    assert sorted(recommend(filterArn=BY_CATEGORY, filterValues={"CATEGORY": '"bags","hats"'})) == [
        "hat",
        "tote",
        "wallet",
    ]
    assert sorted(recommend(filterArn=NOT_CHEAP)) == ["hat", "laces", "tote"]


def test_interaction_filter_and_personalized_ranking(events: Any, runtime: Any) -> None:
    buy(events, "me", "boots")
    events.put_events(
        trackingId=TRACKING_ID, userId="me", sessionId="s", eventList=[event("tote", "Product Viewed")]
    )
    everything = ["boots", "tote", "hat", "not-in-catalog"]
    ranked = runtime.get_personalized_ranking(campaignArn=CAMPAIGN, userId="me", inputList=everything)
    assert sorted(item_ids(ranked, "personalizedRanking")) == sorted(everything)
    assert item_ids(ranked, "personalizedRanking")[-1] == "not-in-catalog"
    filtered = runtime.get_personalized_ranking(
        campaignArn=CAMPAIGN, userId="me", inputList=everything, filterArn=NOT_PURCHASED
    )
    assert "boots" not in item_ids(filtered, "personalizedRanking")  # ordered: filtered out
    assert "tote" in item_ids(filtered, "personalizedRanking")  # only viewed: kept
    related = runtime.get_recommendations(
        campaignArn=CAMPAIGN, itemId="tote", userId="me", filterArn=NOT_PURCHASED
    )
    assert "boots" not in item_ids(related)
    assert "tote" not in item_ids(related)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "personalize.sqlite"
    with make_service(db) as first:
        client = boto("personalize-events", first.url)
        for n in range(2):
            buy(client, f"buyer-{n}", "tote", "wallet")
        buy(client, "me", "tote")
        client.put_items(
            datasetArn=ITEMS_DATASET, items=[{"itemId": "belt", "properties": '{"CATEGORY": "x"}'}]
        )
        before = boto("personalize-runtime", first.url).get_recommendations(campaignArn=CAMPAIGN, userId="me")
    with make_service(db) as second:
        after = boto("personalize-runtime", second.url).get_recommendations(campaignArn=CAMPAIGN, userId="me")
        assert second.item("belt") == {"CATEGORY": "x"}
        assert len(second.query("SELECT id FROM events")) == 5
    assert item_ids(after) == item_ids(before)
    assert item_ids(after)[0] == "wallet"


def test_concurrent_put_events_are_all_stored(service: PersonalizeService) -> None:
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            client = boto("personalize-events", service.url)
            buy(client, f"user-{n}", "hat", "tote")
            for _ in range(4):
                buy(client, f"user-{n}", "laces")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert service.query("SELECT count(*) AS n FROM events") == [{"n": 8 * (2 + 4)}]
