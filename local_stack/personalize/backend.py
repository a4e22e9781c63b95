"""The local Amazon Personalize's behaviour: events, items, users, the model, recommendations, ranking,
filters and the item catalog, over SQLite state. The wire protocol is in ``responses``.

Item metadata: columns are keyed by their schema name in upper case (``category`` and ``numberOfRatings``
in PutItems properties become ``CATEGORY`` and ``NUMBER_OF_RATINGS``). GetRecommendations returns each
requested column under the column name in lower case (``{"ITEMS": ["CATEGORY"]}`` -> ``{"category": ...}``),
values as strings (the ``Metadata`` shape is a map of strings; lists are joined with ``|``); a column the
item lacks is left out.

GetRecommendations with an ``itemId`` answers like a RELATED_ITEMS campaign (companions of the item, the
``userId`` feeding only ``Interactions`` filters); with a ``userId`` alone, like USER_PERSONALIZATION (items
the user already interacted with are left out; a sessionId passed as userId works for anonymous visitors).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local_stack.personalize.constraints import (
    DatasetRequest,
    PutEventsRequest,
    RankingRequest,
    RecommendationsRequest,
    RuntimeOptions,
)
from local_stack.personalize.exceptions import InvalidInputException, ResourceNotFoundException
from local_stack.personalize.filters import (
    FilterExpression,
    FilterSyntaxError,
    FilterValuesError,
    build_item_filter,
    parse_filter_expression,
)
from local_stack.personalize.recommender import InteractionModel
from local_stack.personalize.store import Store, dumps

DEFAULT_NUM_RESULTS = 25
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def column_key(name: str) -> str:
    """Schema column name of a property or metadata key: ``numberOfRatings`` -> ``NUMBER_OF_RATINGS``."""
    return _CAMEL.sub("_", name).upper()


def _column_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "|".join(_column_value(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class RankedItems:
    """An answer of GetRecommendations or GetPersonalizedRanking: the entries (``itemId``, ``score``,
    ``metadata``) and the id it was recorded under."""

    entries: list[dict[str, Any]]
    recommendation_id: str


class PersonalizeBackend:
    """Resources, state and model of one local Personalize; thread safe (one lock over catalog and model)."""

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        tracking_ids: Iterable[str] = (),
        campaigns: Iterable[str] = (),
        recommenders: Iterable[str] = (),
        filters: Mapping[str, str] | None = None,
        items: Mapping[str, Mapping[str, object]] | None = None,
        datasets: Iterable[str] | None = None,
        model: InteractionModel | None = None,
    ) -> None:
        """Known resources; see :class:`~local_stack.personalize.responses.PersonalizeService`."""
        self.model = model or InteractionModel()
        self.store = Store(db_path)
        self._lock = threading.RLock()
        self._tracking_ids = set(tracking_ids)
        self._campaigns = set(campaigns)
        self._recommenders = set(recommenders)
        self._filters: dict[str, str] = dict(filters or {})
        self._parsed_filters: dict[str, FilterExpression] = {}
        self._datasets = None if datasets is None else set(datasets)
        self._catalog: dict[str, dict[str, object]] = {}
        now = time.time()
        with self.store.transaction() as conn:
            for item_id, metadata in (items or {}).items():
                conn.execute(
                    "INSERT OR IGNORE INTO items (item_id, dataset_arn, properties, metadata, updated_at)"
                    " VALUES (?, NULL, ?, ?, ?)",
                    (item_id, dumps(dict(metadata)), dumps(_normalise(metadata)), now),
                )
        self._rebuild()

    # --- configuration -------------------------------------------------------------------------------
    def add_tracking_id(self, tracking_id: str) -> None:
        """Accept PutEvents for another event tracker."""
        with self._lock:
            self._tracking_ids.add(tracking_id)

    def add_campaign(self, campaign_arn: str) -> None:
        """Serve another campaign."""
        with self._lock:
            self._campaigns.add(campaign_arn)

    def add_recommender(self, recommender_arn: str) -> None:
        """Serve another recommender."""
        with self._lock:
            self._recommenders.add(recommender_arn)

    def add_filter(self, filter_arn: str, expression: str) -> None:
        """Create a filter; :class:`FilterSyntaxError` when the expression is not understood."""
        parsed = parse_filter_expression(expression)
        with self._lock:
            self._filters[filter_arn] = expression
            self._parsed_filters[filter_arn] = parsed

    def item(self, item_id: str) -> dict[str, object] | None:
        """An item's metadata (columns in upper case), or None."""
        with self._lock:
            metadata = self._catalog.get(item_id)
            return dict(metadata) if metadata is not None else None

    def _rebuild(self) -> None:
        """Load the catalog and replay every stored event into the model."""
        with self._lock:
            for row in self.store.query("SELECT item_id, metadata FROM items"):
                self._catalog[row["item_id"]] = json.loads(row["metadata"])
                self.model.add_item(row["item_id"])
            for row in self.store.query(
                "SELECT session_id, user_id, item_id, event_type, sent_at FROM events ORDER BY id"
            ):
                self._learn(
                    row["session_id"], row["user_id"], row["item_id"], row["event_type"], row["sent_at"]
                )

    def _learn(
        self, session_id: str, user_id: str | None, item_id: str | None, event_type: str, ts: float
    ) -> None:
        if user_id:
            self.model.link(session_id, user_id)
        if item_id:
            self.model.observe(user_id or session_id, item_id, event_type, ts)

    # --- events, items, users ------------------------------------------------------------------------
    def put_events(self, request: PutEventsRequest, request_id: int) -> None:
        """Store the events and teach the model; ResourceNotFoundException for an unknown tracker."""
        with self._lock:
            if request.tracking_id not in self._tracking_ids:
                raise ResourceNotFoundException(f"Tracking id {request.tracking_id} does not exist.")
            now = time.time()
            with self.store.transaction() as conn:
                for row in request.events:
                    conn.execute(
                        "INSERT INTO events (request_id, tracking_id, session_id, user_id, event_id,"
                        " event_type, event_value, item_id, sent_at, properties, recommendation_id,"
                        " impression, metric_attribution_source, received_at)"
                        " VALUES (:request_id, :tracking_id, :session_id, :user_id, :event_id, :event_type,"
                        " :event_value, :item_id, :sent_at, :properties, :recommendation_id, :impression,"
                        " :metric_attribution_source, :received_at)",
                        {
                            **row,
                            "request_id": request_id,
                            "tracking_id": request.tracking_id,
                            "session_id": request.session_id,
                            "user_id": request.user_id,
                            "received_at": now,
                        },
                    )
            for row in request.events:
                self._learn(
                    request.session_id, request.user_id, row["item_id"], row["event_type"], row["sent_at"]
                )

    def _known_dataset(self, request: DatasetRequest) -> None:
        if self._datasets is not None and request.dataset_arn not in self._datasets:
            raise ResourceNotFoundException(f"Dataset {request.dataset_arn} does not exist.")

    def put_items(self, request: DatasetRequest, request_id: int) -> None:
        """Add or replace catalog items (metadata columns in upper case)."""
        self._known_dataset(request)
        rows = [(item_id, raw, _normalise(properties)) for item_id, raw, properties in request.members]
        now = time.time()
        with self._lock:
            with self.store.transaction() as conn:
                for item_id, raw, metadata in rows:
                    conn.execute(
                        "INSERT OR REPLACE INTO items"
                        " (item_id, dataset_arn, properties, metadata, updated_at) VALUES (?, ?, ?, ?, ?)",
                        (item_id, request.dataset_arn, raw, dumps(metadata), now),
                    )
            for item_id, _, metadata in rows:
                self._catalog[item_id] = metadata
                self.model.add_item(item_id)

    def put_users(self, request: DatasetRequest, request_id: int) -> None:
        """Add or replace users (stored; the model does not use them)."""
        self._known_dataset(request)
        now = time.time()
        with self._lock, self.store.transaction() as conn:
            for user_id, raw, _ in request.members:
                conn.execute(
                    "INSERT OR REPLACE INTO users (user_id, dataset_arn, properties, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (user_id, request.dataset_arn, raw, now),
                )

    # --- recommendations -----------------------------------------------------------------------------
    def get_recommendations(self, request: RecommendationsRequest, request_id: int) -> RankedItems:
        """Related items of ``item_id``, else the user's recommendations, filtered and recorded."""
        user_id = request.user_id or None
        with self._lock:
            if request.campaign_arn is not None and request.campaign_arn not in self._campaigns:
                raise ResourceNotFoundException(f"Campaign {request.campaign_arn} does not exist.")
            if request.recommender_arn is not None and request.recommender_arn not in self._recommenders:
                raise ResourceNotFoundException(f"Recommender {request.recommender_arn} does not exist.")
            keep = self._item_filter(request.options, user_id)
            n = request.num_results if request.num_results is not None else DEFAULT_NUM_RESULTS
            if request.item_id:  # RELATED_ITEMS; a userId only feeds the filter, as in Personalize
                ranked = self.model.related(request.item_id, n, keep)
            else:
                assert user_id is not None  # checked with the request
                ranked = self.model.recommend(user_id, n, keep)
            entries = self._item_entries(ranked, request.options.columns)
            recommendation_id = self._record(
                request_id,
                "GetRecommendations",
                request.options,
                entries,
                campaign_arn=request.campaign_arn,
                recommender_arn=request.recommender_arn,
                user_id=request.user_id,
                item_id=request.item_id,
                num_results=request.num_results,
            )
        return RankedItems(entries, recommendation_id)

    def get_personalized_ranking(self, request: RankingRequest, request_id: int) -> RankedItems:
        """``input_list`` ranked for the user (filtered items left out), recorded."""
        with self._lock:
            if request.campaign_arn not in self._campaigns:
                raise ResourceNotFoundException(f"Campaign {request.campaign_arn} does not exist.")
            keep = self._item_filter(request.options, request.user_id)
            kept = [i for i in request.input_list if keep is None or keep(i)]
            entries = self._item_entries(self.model.rank(request.user_id, kept), request.options.columns)
            recommendation_id = self._record(
                request_id,
                "GetPersonalizedRanking",
                request.options,
                entries,
                campaign_arn=request.campaign_arn,
                user_id=request.user_id,
            )
        return RankedItems(entries, recommendation_id)

    def _item_filter(self, options: RuntimeOptions, actor: str | None) -> Callable[[str], bool] | None:
        """The request's item predicate; caller holds the lock."""
        filter_arn, filter_values = options.filter_arn, options.filter_values
        if filter_arn is None:
            if filter_values:
                raise InvalidInputException("filterValues were given without a filterArn.")
            return None
        if filter_arn not in self._filters:
            raise ResourceNotFoundException(f"Filter {filter_arn} does not exist.")
        parsed = self._parsed_filters.get(filter_arn)
        if parsed is None:
            try:
                parsed = parse_filter_expression(self._filters[filter_arn])
            except FilterSyntaxError as error:
                raise InvalidInputException(
                    f"Filter {filter_arn} has an invalid filter expression: {error}"
                ) from error
            self._parsed_filters[filter_arn] = parsed
        event_types = self.model.event_types(actor) if actor else {}
        try:
            return build_item_filter(parsed, filter_values, self._catalog.get, event_types)
        except FilterValuesError as error:
            raise InvalidInputException(str(error)) from error

    def _item_entries(
        self, ranked: list[tuple[str, float]], columns: list[str] | None
    ) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for item_id, score in ranked:
            entry: dict[str, Any] = {"itemId": item_id, "score": score}
            if columns:
                metadata = self._catalog.get(item_id, {})
                entry["metadata"] = {
                    column.lower(): _column_value(metadata[column_key(column)])
                    for column in columns
                    if metadata.get(column_key(column)) is not None
                }
            entries.append(entry)
        return entries

    def _record(
        self,
        request_id: int,
        operation: str,
        options: RuntimeOptions,
        entries: list[dict[str, Any]],
        *,
        campaign_arn: str | None,
        recommender_arn: str | None = None,
        user_id: str | None,
        item_id: str | None = None,
        num_results: int | None = None,
    ) -> str:
        recommendation_id = f"RID-{uuid.uuid4()}"  # 40 characters: fits PutEvents' recommendationId
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO recommendations (recommendation_id, request_id, operation, campaign_arn,"
                " recommender_arn, user_id, item_id, filter_arn, filter_values, num_results, item_list,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    recommendation_id,
                    request_id,
                    operation,
                    campaign_arn,
                    recommender_arn,
                    user_id,
                    item_id,
                    options.filter_arn,
                    dumps(options.filter_values),
                    num_results,
                    dumps(entries),
                    time.time(),
                ),
            )
        return recommendation_id

    # --- inspection ----------------------------------------------------------------------------------
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query on the state (tables: requests, events, items, users, recommendations)."""
        return self.store.query(sql, tuple(params))

    def close(self) -> None:
        """Close the database."""
        self.store.close()


def _normalise(metadata: Mapping[str, object]) -> dict[str, object]:
    return {column_key(key): value for key, value in metadata.items()}
