"""The Segment side of the soak: SyncProfile's decisions from histories, identify arrivals, final traits
(marker ``unit``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soak.syncs import SyncAttempt, sync_attempts, sync_figures

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
TRAIT = "recommended_products"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def attempt(
    message: str, items: tuple[str, ...], start: float, end: float, identify: str = ""
) -> SyncAttempt:
    return SyncAttempt(message, identify or f"id-{message}", TRAIT, (items, "RID"), at(start), at(end))


def traits(values: dict[str, tuple[str, ...] | None]) -> Any:
    def read(external_id: str) -> dict[str, Any] | None:
        held = values.get(external_id.removeprefix("user_id:"))
        return None if held is None else {TRAIT: list(held), f"{TRAIT}_recommendation_id": "RID"}

    return read


def figures(
    attempts: list[SyncAttempt], arrivals: list[str], held: dict[str, tuple[str, ...] | None], **kw: Any
):
    options: dict[str, Any] = {
        "expected": {a.message_id: "u1" for a in attempts},
        "dead_message_ids": set(),
        "source_ids": {"source-identify"},
        "late_answers": 0,
    } | kw
    return sync_figures(
        attempts,
        arrivals=[{"messageId": m} for m in arrivals],
        profile_traits=traits(held),
        **options,
    )


def test_a_history_gives_each_sync_profile_attempt_that_succeeded() -> None:
    payload = {"messageId": "m1", "itemIds": ["a", "b", "c"], "recommendationId": "RID-1"}
    output = {"identifyMessageId": "id-1", "trait": TRAIT, "count": 2}

    def event(kind: str, seconds: float, **details: Any) -> dict[str, Any]:
        return {"type": kind, "timestamp": at(seconds), **details}

    history = [
        event("TaskStateEntered", 0, stateEnteredEventDetails={"name": "Track"}),
        event("LambdaFunctionScheduled", 0, lambdaFunctionScheduledEventDetails={"input": "{}"}),
        event("LambdaFunctionSucceeded", 1, lambdaFunctionSucceededEventDetails={"output": "{}"}),
        event("TaskStateEntered", 2, stateEnteredEventDetails={"name": "SyncProfile"}),
        event(
            "LambdaFunctionScheduled", 2, lambdaFunctionScheduledEventDetails={"input": json.dumps(payload)}
        ),
        event("LambdaFunctionFailed", 3, lambdaFunctionFailedEventDetails={"error": "SegmentUnavailable"}),
        event(
            "LambdaFunctionScheduled", 4, lambdaFunctionScheduledEventDetails={"input": json.dumps(payload)}
        ),
        event(
            "LambdaFunctionSucceeded", 5, lambdaFunctionSucceededEventDetails={"output": json.dumps(output)}
        ),
    ]
    # scheduled: the state's first attempt, which failed but may have sent the identify (a late answer)
    assert sync_attempts(history) == [SyncAttempt("m1", "id-1", TRAIT, (("a", "b"), "RID-1"), at(2), at(5))]


def test_an_identify_a_failed_attempt_sent_early_may_be_overtaken() -> None:
    # m1's first attempt (from 0) sent its identify but failed; its retry succeeded at 5, deduplicated at
    # Segment. m2's identify (2 to 3) arrived after m1's: the profile rightly holds m2's list.
    attempts = [attempt("m1", ("a",), 0, 5), attempt("m2", ("b",), 2, 3)]
    assert figures(attempts, ["id-m1", "id-m2"], {"u1": ("b",)}).traits_wrong == 0
    assert figures(attempts, ["id-m1", "id-m2"], {"u1": ("a",)}).traits_wrong == 0


def test_the_profile_must_hold_what_the_last_identify_decided() -> None:
    attempts = [attempt("m1", ("a",), 0, 1), attempt("m2", ("b",), 2, 3)]
    ok = figures(attempts, ["id-m1", "id-m2"], {"u1": ("b",)})
    assert (ok.users, ok.traits_ok, ok.traits_wrong, ok.traits_missing) == (1, 1, 0, 0)
    assert ok.failures() == []
    stale = figures(attempts, ["id-m1", "id-m2"], {"u1": ("a",)})  # an older identify won
    assert stale.traits_wrong == 1
    missing = figures(attempts, ["id-m1", "id-m2"], {"u1": None})
    assert missing.traits_missing == 1
    assert missing.failures() == ["synced profiles without the trait: 1"]


def test_either_of_two_overlapping_identifies_may_be_the_last_and_a_replay_decides_nothing() -> None:
    overlapping = [attempt("m1", ("a",), 0, 2), attempt("m2", ("b",), 1, 3)]
    for held in (("a",), ("b",)):
        assert figures(overlapping, ["id-m1", "id-m2"], {"u1": held}).traits_ok == 1
    # m1 again, later (a redelivery answered from the idempotency record, other item ids in its input)
    replayed = [attempt("m1", ("a",), 0, 1), attempt("m2", ("b",), 2, 3), attempt("m1", ("z",), 4, 5)]
    result = figures(replayed, ["id-m1", "id-m2"], {"u1": ("b",)})
    assert (result.decided, result.traits_ok) == (2, 1)
    assert figures(replayed, ["id-m1", "id-m2"], {"u1": ("z",)}).traits_wrong == 1


def test_arrivals_are_counted_before_the_dedupe_and_only_late_answers_explain_repeats() -> None:
    attempts = [attempt("m1", ("a",), 0, 1), attempt("m2", ("b",), 2, 3)]
    arrivals = ["source-identify", "id-m1", "id-m1", "id-m2", "stray"]
    result = figures(attempts, arrivals, {"u1": ("b",)})
    assert (result.decided, result.arrivals, result.repeats, result.unexplained_repeats) == (2, 3, 1, 1)
    assert result.unexpected == 1  # "stray": neither the generator's nor the workflow's
    assert result.failures() == [
        "identify repeats no late answer explains: 1",
        "identifies at Segment nobody decided: 1",
    ]
    explained = figures(attempts, arrivals[:-1], {"u1": ("b",)}, late_answers=1)
    assert explained.unexplained_repeats == 0
    assert explained.failures() == []


def test_an_identify_that_never_arrived_and_a_sync_that_never_ran_fail() -> None:
    attempts = [attempt("m1", ("a",), 0, 1)]
    expected = {"m1": "u1", "m2": "u1", "m3": "u1"}
    result = figures(attempts, [], {"u1": None}, expected=expected, dead_message_ids={"m3"})
    assert (result.expected, result.synced, result.missing) == (3, 1, 1)  # m3 waits in the queue
    assert result.identify_missing == 1
    assert "syncs missing: 1" in result.failures()
    assert "identifies that never reached Segment: 1" in result.failures()
