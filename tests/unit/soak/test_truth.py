"""The soak's ground truth: the generator's facts, and the deliveries judged by them (marker ``unit``)."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.traffic import LARGE_ORDER, Generated
from soak.deliveries import Answer, Delivery, traffic
from soak.truth import judge

pytestmark = pytest.mark.unit


def test_the_soak_traffic_has_enough_messages_and_a_known_users_large_order() -> None:
    generated = traffic(40, 5)
    assert len(generated.messages) >= 40
    assert any(f.user_id and len(f.interactions()) >= LARGE_ORDER for f in generated.facts)


VALID = Generated("m0", "track", "Product Viewed", "u1", "a1", ("SKU-1",))
ORDER = Generated("m1", "track", "Order Completed", None, "a2", ("SKU-2", "SKU-3"), per_product=True)
PAGE = Generated("m2", "page", None, "u1", "a1")
BROKEN = Generated(
    "m3", "track", "Product Viewed", None, "a3", ("SKU-4",), malformed="timestamp is not a date"
)
NO_ID = Generated(None, "track", "Product Viewed", None, "a3", ("SKU-5",), malformed="no messageId")


def _answer(index: int, status: str, copy: int = 0, **fields: Any) -> Answer:
    return Answer(Delivery(index, copy, {}), status, **fields)


def test_a_rejection_counts_only_where_the_generator_made_the_message_malformed() -> None:
    facts = [VALID, ORDER, PAGE, BROKEN, NO_ID]
    answers = [
        _answer(0, "started", execution_arn="arn:0"),
        _answer(0, "duplicate", copy=1, execution_arn="arn:0"),
        _answer(1, "rejected", reason="entry: nope"),  # a valid order refused: a loss
        _answer(2, "started", execution_arn="arn:2"),
        _answer(3, "started", execution_arn="arn:3"),
        _answer(4, "rejected", reason="entry: messageId is missing"),  # the new contract: parked
    ]
    rejections = {3: "workflow: timestamp: not a date", 2: "workflow: page is not allowed"}

    judged = judge(facts, range(5), answers, rejections)

    assert judged.rejected == {"workflow: timestamp: not a date": 1, "entry: messageId is missing": 1}
    assert judged.wrongly_rejected == {"entry: nope": 1, "workflow: page is not allowed": 1}
    assert judged.losses == 2
    assert judged.malformed_not_rejected == []
    assert set(judged.expected) == {"m0", "m1-0", "m1-1"}
    assert judged.expected["m1-1"].item_id == "SKU-3"
    assert judged.expected["m1-1"].session_id == "a2"
    assert judged.syncs == {0}  # the known user's interaction; the page is not one
    assert judged.ignored == 1


def test_an_entry_failure_is_not_a_rejection_and_a_message_that_never_got_in_is_lost() -> None:
    facts = [VALID, ORDER, BROKEN]
    answers = [
        _answer(0, "failed", reason="StartExecutionFailed: throttled", failed_attempts=5),
        _answer(0, "failed", copy=1, reason="StartExecutionFailed: again", failed_attempts=5),
        _answer(1, "started", execution_arn="arn:1", failed_attempts=2),  # got in on a retry
        _answer(2, "failed", reason="StartExecutionFailed: throttled", failed_attempts=5),
    ]

    judged = judge(facts, range(3), answers, {})

    assert judged.never_in == {0: "StartExecutionFailed: again"}
    assert judged.rejected == {}
    assert judged.wrongly_rejected == {}
    assert judged.malformed_not_rejected == ["timestamp is not a date"]  # never rejected: it never got in
    assert judged.got_in == {1}
    assert judged.syncs == set()
    assert "m0" in judged.expected  # still expected: lost unless tracked


def test_only_delivered_messages_are_expected() -> None:
    judged = judge([VALID, ORDER], [1], [_answer(1, "started", execution_arn="arn:1")], {})
    assert set(judged.expected) == {"m1-0", "m1-1"}


def test_a_stored_event_is_checked_against_the_generators_ids() -> None:
    judged = judge([ORDER], [0], [_answer(0, "started", execution_arn="arn:0")], {})
    expected = judged.expected["m1-0"]
    row = {"item_id": "SKU-2", "user_id": None, "session_id": "a2", "event_type": "Order Completed"}
    assert expected.mismatch(row) is None
    assert expected.mismatch(row | {"item_id": "SKU-3"}) == "item_id 'SKU-3', not 'SKU-2'"
    assert "session_id" in str(expected.mismatch(row | {"session_id": "other"}))


def test_a_skipped_non_interaction_is_neither_lost_nor_rejected_and_a_skipped_interaction_is_lost() -> None:
    facts = [PAGE, VALID, ORDER]
    answers = [
        _answer(0, "skipped", reason="entry: page messages are not interactions"),
        _answer(0, "skipped", copy=1, reason="entry: page messages are not interactions"),
        _answer(1, "skipped", reason="entry: event 'Product Viewed' is not in INTERACTION_EVENTS"),  # wrong
        _answer(2, "started", execution_arn="arn:2"),
    ]

    judged = judge(facts, range(3), answers, {})

    # the page: counted from the generator's facts as not an interaction, skipped by entry, not lost
    assert judged.ignored == 1
    assert judged.skipped == 1
    assert judged.never_in == {}
    assert judged.rejected == {}
    assert judged.wrongly_rejected == {}
    # the product view the generator made an interaction: skipping it loses it
    assert judged.wrongly_skipped == {"entry: event 'Product Viewed' is not in INTERACTION_EVENTS": 1}
    assert judged.losses == 1
    assert "m0" in judged.expected
    assert judged.syncs == set()  # the order is anonymous; the skipped view never got in
