"""Recommendation quality of the local model: hit rate at 10 next to popularity alone, on held-out data.

Each actor's last interaction is held out; the model is trained on the rest in time order, and a hit is the
held-out item among the actor's top 10. Two data sets: the seeded Segment traffic the local stack replays
(one interaction per visitor and item) and the structured synthetic set of
``local_stack.personalize.recommender``.
"""

from __future__ import annotations

from typing import Any


def hit_rates(seed: int = 11, k: int = 10) -> dict[str, Any]:
    from local_stack.personalize.recommender import (
        fit,
        hit_rate_at_k,
        split_last_interaction,
        synthetic_interactions,
    )
    from local_stack.traffic import generate, interactions

    sets = {
        "traffic": interactions(generate(seed, users=120, anonymous=20, sessions_per_visitor=3)),
        "synthetic": synthetic_interactions(seed=seed)[0],
    }
    result: dict[str, Any] = {"k": k, "seed": seed}
    for name, data in sets.items():
        train, held_out = split_last_interaction(data)
        model = hit_rate_at_k(fit(train), held_out, k=k)
        popularity = hit_rate_at_k(fit(train, popularity_only=True), held_out, k=k)
        result[name] = {
            "heldOut": len(held_out),
            "interactions": len(data),
            "model": round(model, 3),
            "popularity": round(popularity, 3),
        }
    return result
