"""The contract models: an interaction of the Validate result as the PutEvents event Track sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from segment_personalize.contract import Interaction

pytestmark = pytest.mark.unit

SENT_AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


# --- Interaction -> PutEvents event ---------------------------------------------------------------------
def test_interaction_sends_only_present_fields_and_sent_at_as_utc_datetime() -> None:
    # given an interaction with only the required fields and one with all of them
    bare = Interaction.model_validate(
        {"eventId": "m1", "eventType": "Product Viewed", "sentAt": 1700000000.5}
    )
    full = Interaction.model_validate(
        {
            "eventId": "m1-0",
            "eventType": "Order Completed",
            "itemId": "sku-1",
            "sentAt": 1700000000,
            "eventValue": 20,
            "recommendationId": "RID-1",
            "impression": ["sku-1", "sku-2"],
        }
    )
    # then absent fields are not sent at all and sentAt is an aware UTC datetime of the same instant
    assert bare.to_put_event() == {
        "eventId": "m1",
        "eventType": "Product Viewed",
        "sentAt": datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC),
    }
    full_event = full.to_put_event()
    assert full_event == {
        "eventId": "m1-0",
        "eventType": "Order Completed",
        "itemId": "sku-1",
        "sentAt": SENT_AT,
        "eventValue": 20.0,
        "recommendationId": "RID-1",
        "impression": ["sku-1", "sku-2"],
    }
    assert isinstance(full_event["eventValue"], float)


def test_interaction_accepts_explicit_nulls_as_absent() -> None:
    interaction = Interaction.model_validate(
        {
            "eventId": "m1",
            "eventType": "Product Viewed",
            "itemId": None,
            "sentAt": 1700000000,
            "eventValue": None,
            "recommendationId": None,
            "impression": None,
        }
    )
    assert set(interaction.to_put_event()) == {"eventId", "eventType", "sentAt"}
