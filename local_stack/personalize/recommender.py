"""A small recommender that learns online: item-to-item co-occurrence blended with popularity.

It stands in for a USER_PERSONALIZATION solution. Every interaction updates it at once:

* an actor's history keeps, per item, the strongest event weight seen (``Order Completed`` counts more than
  ``Product Viewed``) and the last time;
* co-occurrence ``C[i][j]`` is the sum over actors of ``w_i * w_j`` (a dot product of item vectors over
  actors, so duplicates and redeliveries of the same event change nothing);
* popularity is the event-weighted count of interactions, decayed with a half-life.

A user's score for a candidate item is the cosine-normalised co-occurrence with the items of the user's
history, each history item weighted by its event weight and by how recent it is relative to the user's last
event; that score is blended with popularity, items the user already interacted with are left out, and a
user with no history gets popularity alone (as Personalize does for cold users).

Anonymous sessions: events that carry only a sessionId count for that session; once an event ties a session to
a userId (:meth:`InteractionModel.link`), the session's history moves to the user and later session-only
events count for the user too.

The module also holds the offline evaluation (:func:`split_last_interaction`, :func:`hit_rate_at_k`) and a
synthetic data set with structure (:func:`synthetic_interactions`), so a benchmark can reuse them.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

#: Event weights by Segment ecommerce event name; anything else weighs ``default_weight``.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "Product Viewed": 1.0,
    "Product Clicked": 1.0,
    "Product Shared": 1.5,
    "Product Reviewed": 2.0,
    "Product Added": 2.0,
    "Product Added to Wishlist": 2.0,
    "Order Completed": 4.0,
}

DAY = 86_400.0

ItemFilter = Callable[[str], bool]


@dataclass(frozen=True)
class Interaction:
    """One interaction of an actor (a userId or a sessionId) with an item."""

    actor_id: str
    item_id: str
    event_type: str
    ts: float


@dataclass
class _Seen:
    weight: float
    ts: float


class InteractionModel:
    """Online co-occurrence + popularity recommender; not thread safe (the service holds a lock)."""

    def __init__(
        self,
        *,
        event_weights: Mapping[str, float] | None = None,
        default_weight: float = 1.0,
        popularity_weight: float = 0.05,
        history_half_life: float = 14 * DAY,
        popularity_half_life: float = 30 * DAY,
        max_history: int = 200,
        popularity_only: bool = False,
    ) -> None:
        if not 0.0 <= popularity_weight <= 1.0:
            raise ValueError("popularity_weight must be within 0..1")
        if history_half_life <= 0 or popularity_half_life <= 0 or max_history < 1:
            raise ValueError("half-lives and max_history must be positive")
        self.event_weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
        self.default_weight = default_weight
        self.popularity_weight = popularity_weight
        self.history_half_life = history_half_life
        self.popularity_tau = popularity_half_life / math.log(2)
        self.max_history = max_history
        self.popularity_only = popularity_only
        self._items: set[str] = set()
        self._alias: dict[str, str] = {}
        self._history: dict[str, dict[str, _Seen]] = {}
        self._types: dict[str, dict[str, set[str]]] = {}
        self._last_ts: dict[str, float] = {}
        self._cooc: dict[str, dict[str, float]] = defaultdict(dict)
        self._norm: dict[str, float] = defaultdict(float)
        self._pop: dict[str, float] = defaultdict(float)
        self._anchor: float | None = None

    # --- learning ------------------------------------------------------------------------------------
    def weight(self, event_type: str) -> float:
        """The weight of an event type."""
        return self.event_weights.get(event_type, self.default_weight)

    def add_item(self, item_id: str) -> None:
        """Make a catalog item a candidate even before anyone interacted with it."""
        self._items.add(item_id)

    def canonical(self, actor_id: str) -> str:
        """The actor whose history ``actor_id`` shares: the user a session is tied to, else itself."""
        return self._alias.get(actor_id, actor_id)

    def link(self, session_id: str, user_id: str) -> None:
        """Tie a session to a user: the session's history moves to the user, later session events follow."""
        if not session_id or session_id == user_id or self._alias.get(session_id) == user_id:
            return
        self._alias[session_id] = user_id
        history = self._history.pop(session_id, None)
        types = self._types.pop(session_id, {})
        self._last_ts.pop(session_id, None)
        if history:
            for item_id, seen in sorted(history.items(), key=lambda kv: kv[1].ts):
                self._add(user_id, item_id, seen.weight, seen.ts, types.get(item_id, set()))

    def observe(self, actor_id: str, item_id: str, event_type: str, ts: float) -> None:
        """Learn from one interaction of a userId or sessionId with an item at epoch seconds ``ts``."""
        actor = self.canonical(actor_id)
        weight = self.weight(event_type)
        self._items.add(item_id)
        self._bump_popularity(item_id, weight, ts)
        self._add(actor, item_id, weight, ts, {event_type})

    def _bump_popularity(self, item_id: str, weight: float, ts: float) -> None:
        if self._anchor is None:
            self._anchor = ts
        exponent = (ts - self._anchor) / self.popularity_tau
        if exponent > 300:  # move the anchor forward before the numbers get large
            shift = math.exp(-exponent)
            for key in self._pop:
                self._pop[key] *= shift
            self._anchor, exponent = ts, 0.0
        self._pop[item_id] += weight * math.exp(max(exponent, -700.0))

    def _add(self, actor: str, item_id: str, weight: float, ts: float, event_types: set[str]) -> None:
        history = self._history.setdefault(actor, {})
        seen = history.get(item_id)
        old = seen.weight if seen else 0.0
        if weight > old:
            delta = weight - old
            for other, other_seen in self._window(history):
                if other != item_id:
                    self._cooc[item_id][other] = (
                        self._cooc[item_id].get(other, 0.0) + delta * other_seen.weight
                    )
                    self._cooc[other][item_id] = (
                        self._cooc[other].get(item_id, 0.0) + delta * other_seen.weight
                    )
            self._norm[item_id] += weight * weight - old * old
        if seen is None:
            history[item_id] = _Seen(weight, ts)
        else:
            seen.weight, seen.ts = max(weight, old), max(ts, seen.ts)
        self._types.setdefault(actor, {}).setdefault(item_id, set()).update(event_types)
        self._last_ts[actor] = max(ts, self._last_ts.get(actor, ts))

    def _window(self, history: dict[str, _Seen]) -> Iterable[tuple[str, _Seen]]:
        if len(history) <= self.max_history:
            return list(history.items())
        return heapq.nlargest(self.max_history, history.items(), key=lambda kv: kv[1].ts)

    # --- reading -------------------------------------------------------------------------------------
    def history(self, actor_id: str) -> dict[str, float]:
        """Item -> strongest event weight, for the actor (after session linking)."""
        return {item: seen.weight for item, seen in self._history.get(self.canonical(actor_id), {}).items()}

    def event_types(self, actor_id: str) -> dict[str, set[str]]:
        """Item -> the event types the actor had with it (for ``Interactions.EVENT_TYPE`` filters)."""
        return {item: set(types) for item, types in self._types.get(self.canonical(actor_id), {}).items()}

    def popularity(self) -> dict[str, float]:
        """Item -> decayed popularity, scaled so the most popular item is 1."""
        top = max(self._pop.values(), default=0.0)
        return {item: value / top for item, value in self._pop.items()} if top > 0 else {}

    def scores(self, actor_id: str) -> dict[str, float]:
        """Blended score of every known item for the actor (seen items included)."""
        personal: dict[str, float] = {}
        actor = self.canonical(actor_id)
        history = self._history.get(actor)
        if history and not self.popularity_only:
            latest = self._last_ts[actor]
            for item_id, seen in self._window(history):
                recency = 0.5 ** (max(latest - seen.ts, 0.0) / self.history_half_life)
                self._accumulate(personal, item_id, seen.weight * recency)
        return self._blend(personal)

    def related_scores(self, item_id: str) -> dict[str, float]:
        """Blended score of every known item as a companion of ``item_id`` (RELATED_ITEMS)."""
        personal: dict[str, float] = {}
        if not self.popularity_only:
            self._accumulate(personal, item_id, 1.0)
        return self._blend(personal)

    def _accumulate(self, into: dict[str, float], item_id: str, weight: float) -> None:
        norm = self._norm.get(item_id, 0.0)
        if norm <= 0:
            return
        scale = weight / math.sqrt(norm)
        for other, value in self._cooc.get(item_id, {}).items():
            into[other] = into.get(other, 0.0) + scale * value / math.sqrt(self._norm[other])

    def _blend(self, personal: dict[str, float]) -> dict[str, float]:
        popularity = self.popularity()
        top = max(personal.values(), default=0.0)
        alpha = self.popularity_weight if top > 0 else 1.0
        return {
            item: (1.0 - alpha) * (personal.get(item, 0.0) / top if top > 0 else 0.0)
            + alpha * popularity.get(item, 0.0)
            for item in self._items
        }

    def recommend(
        self,
        user_id: str,
        n: int = 25,
        candidates_filter: ItemFilter | None = None,
    ) -> list[tuple[str, float]]:
        """The top ``n`` items for a userId or sessionId that it has not interacted with, scores
        normalised to sum to 1."""
        seen = self._history.get(self.canonical(user_id), {})
        return _top(self.scores(user_id), n, lambda item: item not in seen, candidates_filter)

    def related(
        self, item_id: str, n: int = 25, candidates_filter: ItemFilter | None = None
    ) -> list[tuple[str, float]]:
        """The top ``n`` companions of an item, scores normalised to sum to 1."""
        return _top(self.related_scores(item_id), n, lambda item: item != item_id, candidates_filter)

    def rank(self, user_id: str, item_ids: Iterable[str]) -> list[tuple[str, float]]:
        """``item_ids`` re-ranked for the user; unknown items keep their order at the end with score 0."""
        scores = self.scores(user_id)
        ids = list(dict.fromkeys(item_ids))
        known = sorted((i for i in ids if i in scores), key=lambda i: (-scores[i], i))
        return _normalise([(i, scores[i]) for i in known]) + [(i, 0.0) for i in ids if i not in scores]


def _top(
    scores: Mapping[str, float], n: int, keep: ItemFilter, candidates_filter: ItemFilter | None
) -> list[tuple[str, float]]:
    candidates = (
        (item, score)
        for item, score in scores.items()
        if keep(item) and (candidates_filter is None or candidates_filter(item))
    )
    best = heapq.nsmallest(n, candidates, key=lambda kv: (-kv[1], kv[0]))
    return _normalise(best)


def _normalise(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    total = sum(score for _, score in ranked)
    if total <= 0:
        return [(item, 1.0 / len(ranked)) for item, _ in ranked]
    return [(item, score / total) for item, score in ranked]


# --- evaluation ----------------------------------------------------------------------------------------
def fit(interactions: Iterable[Interaction], **options: object) -> InteractionModel:
    """A model trained on ``interactions`` in time order; ``options`` go to :class:`InteractionModel`."""
    model = InteractionModel(**options)  # type: ignore[arg-type]
    for event in sorted(interactions, key=lambda e: e.ts):
        model.observe(event.actor_id, event.item_id, event.event_type, event.ts)
    return model


def split_last_interaction(
    interactions: Iterable[Interaction],
) -> tuple[list[Interaction], dict[str, str]]:
    """Hold out each actor's last interaction (actors with at least two); return (train, actor -> item)."""
    by_actor: dict[str, list[Interaction]] = defaultdict(list)
    for event in interactions:
        by_actor[event.actor_id].append(event)
    train: list[Interaction] = []
    held_out: dict[str, str] = {}
    for actor, events in by_actor.items():
        events.sort(key=lambda e: e.ts)
        if len(events) >= 2:
            held_out[actor] = events[-1].item_id
            events = events[:-1]
        train.extend(events)
    return train, held_out


def hit_rate_at_k(model: InteractionModel, held_out: Mapping[str, str], k: int = 10) -> float:
    """Share of actors whose held-out item is in their top ``k`` recommendations."""
    if not held_out:
        return 0.0
    hits = sum(1 for actor, item in held_out.items() if item in {i for i, _ in model.recommend(actor, k)})
    return hits / len(held_out)


def synthetic_interactions(
    *,
    n_users: int = 300,
    n_categories: int = 8,
    items_per_category: int = 20,
    events_per_user: tuple[int, int] = (5, 10),
    favourite_share: float = 0.85,
    pair_share: float = 0.5,
    seed: int = 7,
    start_ts: float = 1_700_000_000.0,
) -> tuple[list[Interaction], dict[str, dict[str, object]]]:
    """Interactions with structure, and the item catalog (itemId -> {"CATEGORY", "PRICE"}).

    Each user prefers one category (``favourite_share`` of picks) and picks items by a Zipf law inside a
    category; with probability ``pair_share`` the next pick is the fixed co-purchase partner of the previous
    item. A user never picks the same item twice. Most events are views; about one in three is an order.
    """
    rng = random.Random(seed)
    categories = [f"cat-{c}" for c in range(n_categories)]
    by_category = {c: [f"{c}-item-{i:03d}" for i in range(items_per_category)] for c in categories}
    zipf = [1.0 / (rank + 1) for rank in range(items_per_category)]
    partner: dict[str, str] = {}
    for items in by_category.values():
        shuffled = items[:]
        rng.shuffle(shuffled)
        for a, b in zip(shuffled[::2], shuffled[1::2], strict=False):
            partner[a], partner[b] = b, a
    catalog: dict[str, dict[str, object]] = {
        item: {"CATEGORY": c, "PRICE": round(5 + rng.random() * 95, 2)}
        for c, items in by_category.items()
        for item in items
    }
    interactions: list[Interaction] = []
    for u in range(n_users):
        user = f"user-{u:04d}"
        favourite = rng.choice(categories)
        picked: list[str] = []
        ts = start_ts + rng.random() * 30 * DAY
        for _ in range(rng.randint(*events_per_user)):
            item = None
            if picked and picked[-1] in partner and rng.random() < pair_share:
                item = partner[picked[-1]]
            for _attempt in range(20):
                if item is not None and item not in picked:
                    break
                category = favourite if rng.random() < favourite_share else rng.choice(categories)
                item = rng.choices(by_category[category], weights=zipf)[0]
            if item is None or item in picked:
                continue
            picked.append(item)
            ts += 60 + rng.random() * 3_600
            event_type = "Order Completed" if rng.random() < 0.33 else "Product Viewed"
            interactions.append(Interaction(user, item, event_type, ts))
    return interactions, catalog
