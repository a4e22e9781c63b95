"""The local Personalize's model and filter expressions, without a server."""

from __future__ import annotations

import pytest

from local_stack.personalize.filters import (
    FilterSyntaxError,
    FilterValuesError,
    build_item_filter,
    parse_filter_expression,
    parse_filter_values,
)
from local_stack.personalize.recommender import (
    DAY,
    Interaction,
    InteractionModel,
    fit,
    hit_rate_at_k,
    split_last_interaction,
    synthetic_interactions,
)

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0


def ids(ranked: list[tuple[str, float]]) -> list[str]:
    return [item for item, _ in ranked]


# --- evaluation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2])
def test_cooccurrence_beats_popularity_on_held_out_last_interactions(seed: int) -> None:
    # given users with category preferences and co-purchase pairs, each user's last interaction held out
    interactions, _ = synthetic_interactions(seed=seed)
    train, held_out = split_last_interaction(interactions)
    # when both models learn from the rest
    personal = hit_rate_at_k(fit(train), held_out, k=10)
    popular = hit_rate_at_k(fit(train, popularity_only=True), held_out, k=10)
    # then co-occurrence finds the held-out item far more often
    assert len(held_out) == 300
    assert personal > popular + 0.2
    assert personal > 2 * popular


def test_cooccurrence_still_wins_with_category_preference_alone() -> None:
    interactions, _ = synthetic_interactions(seed=3, pair_share=0.0)
    train, held_out = split_last_interaction(interactions)
    assert (
        hit_rate_at_k(fit(train), held_out) > hit_rate_at_k(fit(train, popularity_only=True), held_out) + 0.1
    )


def test_split_last_interaction_holds_out_the_latest_event_of_actors_with_two_or_more() -> None:
    events = [
        Interaction("u1", "a", "Product Viewed", T0 + 2),
        Interaction("u1", "b", "Product Viewed", T0 + 1),
        Interaction("u2", "c", "Product Viewed", T0),
    ]
    train, held_out = split_last_interaction(events)
    assert held_out == {"u1": "a"}
    assert sorted((e.actor_id, e.item_id) for e in train) == [("u1", "b"), ("u2", "c")]


def test_hit_rate_counts_hits_in_the_top_k_only() -> None:
    model = InteractionModel()
    for user, item in [("x", "a"), ("y", "a"), ("z", "b")]:
        model.observe(user, item, "Product Viewed", T0)
    # a fresh user gets popularity: a (2 views) before b (1 view)
    assert hit_rate_at_k(model, {"new-1": "a", "new-2": "b"}, k=1) == 0.5
    assert hit_rate_at_k(model, {"new-1": "a", "new-2": "b"}, k=2) == 1.0
    assert hit_rate_at_k(model, {}, k=2) == 0.0


# --- the model -----------------------------------------------------------------------------------------
def small_model() -> InteractionModel:
    model = InteractionModel()
    for user in ("u1", "u2", "u3"):
        model.observe(user, "boots", "Order Completed", T0)
        model.observe(user, "laces", "Order Completed", T0 + 60)
    for user in ("u4", "u5", "u6", "u7"):
        model.observe(user, "hat", "Product Viewed", T0)
    model.observe("u8", "scarf", "Product Viewed", T0)
    return model


def test_cold_user_gets_popularity_and_scores_sum_to_one() -> None:
    ranked = small_model().recommend("nobody", 4)
    assert ids(ranked)[0] in ("boots", "laces")  # 3 orders weigh more than 4 views
    assert ids(ranked)[-1] == "scarf"
    assert sum(score for _, score in ranked) == pytest.approx(1.0)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_user_gets_co_purchased_item_first_and_never_what_they_had() -> None:
    model = small_model()
    model.observe("me", "boots", "Product Viewed", T0 + 100)
    ranked = model.recommend("me", 3)
    assert ids(ranked)[0] == "laces"  # less popular than hat overall, but bought with boots
    assert "boots" not in ids(ranked)
    assert ids(model.related("boots", 1)) == ["laces"]


def test_redelivered_events_do_not_change_recommendations() -> None:
    once, twice = small_model(), small_model()
    for model, copies in ((once, 1), (twice, 3)):
        for _ in range(copies):
            model.observe("me", "boots", "Order Completed", T0 + 100)
    assert ids(once.recommend("me", 3)) == ids(twice.recommend("me", 3))
    assert once.history("me") == twice.history("me") == {"boots": 4.0}


def test_recent_history_counts_more_than_old_history() -> None:
    model = InteractionModel(history_half_life=1 * DAY)
    for user in ("a1", "a2"):
        model.observe(user, "tent", "Order Completed", T0)
        model.observe(user, "stove", "Order Completed", T0)
    for user in ("b1", "b2"):
        model.observe(user, "ball", "Order Completed", T0)
        model.observe(user, "net", "Order Completed", T0)
    model.observe("me", "tent", "Order Completed", T0)
    model.observe("me", "ball", "Order Completed", T0 + 10 * DAY)
    assert ids(model.recommend("me", 2)) == ["net", "stove"]


def test_session_events_count_for_the_session_then_for_the_user_once_linked() -> None:
    model = small_model()
    model.observe("anon-1", "boots", "Product Viewed", T0 + 100)
    assert ids(model.recommend("anon-1", 1)) == ["laces"]
    assert model.recommend("me", 5) == model.recommend("someone-new", 5)  # the user knows nothing yet
    # when an event ties the session to the user, the session's history becomes the user's
    model.link("anon-1", "me")
    model.observe("me", "hat", "Product Viewed", T0 + 200)
    assert set(model.history("me")) == {"boots", "hat"}
    assert "boots" not in ids(model.recommend("me", 5))
    # and later session-only events follow the user
    model.observe("anon-1", "scarf", "Product Viewed", T0 + 300)
    assert "scarf" in model.history("me")
    assert model.event_types("anon-1") == model.event_types("me")


def test_catalog_items_without_interactions_are_candidates_after_popular_ones() -> None:
    model = small_model()
    model.add_item("new-arrival")
    assert ids(model.recommend("nobody", 10))[-1] == "new-arrival"


def test_candidates_filter_and_rank() -> None:
    model = small_model()
    ranked = model.recommend("nobody", 10, lambda item: item != "hat")
    assert "hat" not in ids(ranked)
    assert len(ranked) == 3
    ranking = model.rank("nobody", ["unknown", "scarf", "hat"])
    assert ids(ranking) == ["hat", "scarf", "unknown"]
    assert ranking[-1][1] == 0.0


def test_invalid_model_options_are_refused() -> None:
    with pytest.raises(ValueError, match="popularity_weight"):
        InteractionModel(popularity_weight=2)


# --- filter expressions --------------------------------------------------------------------------------
CATALOG = {
    "s1": {"CATEGORY": "shoes", "PRICE": 20},
    "s2": {"CATEGORY": "shoes|sale", "PRICE": 80},
    "b1": {"CATEGORY": "bags", "PRICE": 50},
    "x1": {},
}


def keep(
    expression: str, values: dict[str, str] | None = None, types: dict[str, set[str]] | None = None
) -> list[str]:
    predicate = build_item_filter(parse_filter_expression(expression), values, CATALOG.get, types or {})
    return [item for item in CATALOG if predicate(item)]


def test_parse_filter_values_reads_quoted_comma_separated_lists() -> None:
    assert parse_filter_values({"C": '"shoes","bags"', "N": "3, 4", "Q": '"say \\"hi\\""'}) == {
        "C": ["shoes", "bags"],
        "N": ["3", "4"],
        "Q": ['say "hi"'],
    }
    with pytest.raises(FilterValuesError):
        parse_filter_values({"C": ""})


def test_include_with_parameter() -> None:
    expression = "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)"
    assert keep(expression, {"CATEGORY": '"bags"'}) == ["b1"]
    assert keep(expression, {"CATEGORY": '"shoes","bags"'}) == ["s1", "s2", "b1"]
    with pytest.raises(FilterValuesError, match="CATEGORY"):
        keep(expression, {})


def test_exclude_literals_and_multi_valued_categorical() -> None:
    assert keep('EXCLUDE ItemID WHERE Items.CATEGORY IN ("sale")') == ["s1", "b1", "x1"]
    assert keep('EXCLUDE ItemID WHERE Items.CATEGORY NOT IN ("shoes")') == ["s1", "s2", "x1"]


def test_exclude_without_its_parameter_value_is_left_out() -> None:
    assert keep("EXCLUDE ItemID WHERE Items.CATEGORY IN ($GONE)") == list(CATALOG)


def test_interactions_event_type_and_combined_expressions() -> None:
    types = {"s1": {"Order Completed"}, "b1": {"Product Viewed"}}
    assert keep('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Order Completed")', types=types) == [
        "s2",
        "b1",
        "x1",
    ]
    combined = (
        'INCLUDE ItemID WHERE Items.PRICE <= 50 AND Items.CATEGORY IN ($C) OR Items.ITEM_ID = "x1"'
        ' | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Order Completed")'
    )
    assert keep(combined, {"C": '"shoes","bags"'}, types) == ["b1", "x1"]


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "INCLUDE ItemID",
        "INCLUDE ItemID WHERE Items.CATEGORY LIKE ($C)",
        "INCLUDE UserID WHERE Users.AGE > 3",
        'EXCLUDE ItemID WHERE Items.CATEGORY IN ("a") IF CurrentUser.AGE > 18',
        "EXCLUDE ItemID WHERE Interactions.EVENT_VALUE > 3",
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("a"',
        "INCLUDE ItemID WHERE Items.CATEGORY IN (a)",
        "INCLUDE ItemID WHERE Items.CATEGORY IN ($C) ~",
    ],
)
def test_unknown_filter_syntax_is_a_clear_error(expression: str) -> None:
    with pytest.raises(FilterSyntaxError) as raised:
        parse_filter_expression(expression)
    assert str(raised.value)
