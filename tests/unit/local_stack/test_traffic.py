"""The traffic generator's account of what it made: ids, user, session, items, what it broke (``unit``)."""

from __future__ import annotations

import pytest

from local_stack.traffic import LARGE_ORDER, MALFORMED_REASONS, generate

pytestmark = pytest.mark.unit


def test_the_generator_says_what_each_message_is() -> None:
    generated = generate(4, users=6, anonymous=2, sessions_per_visitor=2, malformed=5, large_order_every=2)
    assert len(generated.facts) == len(generated.messages)
    assert sorted(f.malformed for f in generated.facts if f.malformed) == sorted(MALFORMED_REASONS)
    for message, fact in zip(generated.messages, generated.facts, strict=True):
        assert fact.message_id == message.get("messageId")
        assert (fact.type, fact.user_id, fact.anonymous_id) == (
            message["type"],
            message.get("userId"),
            message.get("anonymousId"),
        )
        if fact.malformed is not None or fact.type != "track":
            assert fact.interactions() == {}
            continue
        properties = message["properties"]
        if fact.per_product:
            skus = [product["sku"] for product in properties["products"]]
            assert fact.interactions() == {f"{fact.message_id}-{i}": sku for i, sku in enumerate(skus)}
        else:
            assert fact.interactions() == {fact.message_id: properties["sku"]}
        assert fact.session_id == message["anonymousId"]
    large = [f for f in generated.facts if len(f.interactions()) >= LARGE_ORDER]
    assert any(f.user_id for f in large)
    assert any(not f.user_id for f in large)


def test_large_orders_are_off_by_default_and_leave_the_traffic_as_it_was() -> None:
    plain = generate(4, users=6, anonymous=2)
    assert all(len(f.items) < LARGE_ORDER for f in plain.facts)
    assert plain.messages == generate(4, users=6, anonymous=2, large_order_every=0).messages
