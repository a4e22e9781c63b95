"""The local Amazon Personalize: request handling, state and the loopback HTTP server.

One HTTP server answers both protocols, whose paths do not collide: ``personalize-events`` (POST ``/events``,
``/items``, ``/users``) and ``personalize-runtime`` (POST ``/recommendations``, ``/personalize-ranking``).
Point both ``AWS_ENDPOINT_URL_PERSONALIZE_EVENTS`` and ``AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME`` (or
``endpoint_url=``) at :attr:`PersonalizeService.url`; :meth:`PersonalizeService.endpoint_env` gives both.

Errors are answered as the real rest-json service does: the HTTP status of the error shape, header
``X-Amzn-ErrorType: <Name>`` and body ``{"message": "..."}``, so botocore's
``ClientError.response["Error"]["Code"]`` is the real error name. Authentication is not checked. A body
that is not JSON is a ``SerializationException``; an unknown trackingId, campaign, recommender, filter or
(when ``datasets`` is given) dataset is a ``ResourceNotFoundException`` (404). Injected faults answer
``ThrottlingException`` with 400 (the status botocore's retry rules expect), ``InternalServerError`` with 500.

Private paths (same server): ``GET /_local/health``; ``GET``/``POST``/``DELETE /_local/faults`` to list,
queue (JSON body with the arguments of :meth:`FaultInjector.add`) or clear injected faults.

Item metadata: columns are keyed by their schema name in upper case (``category`` and ``numberOfRatings``
in PutItems properties become ``CATEGORY`` and ``NUMBER_OF_RATINGS``). GetRecommendations returns each
requested column under the column name in lower case (``{"ITEMS": ["CATEGORY"]}`` -> ``{"category": ...}``),
values as strings (the ``Metadata`` shape is a map of strings; lists are joined with ``|``); a column the
item lacks is left out. ``context`` and ``promotions`` are validated and otherwise ignored.

GetRecommendations with an ``itemId`` answers like a RELATED_ITEMS campaign (companions of the item, the
``userId`` feeding only ``Interactions`` filters); with a ``userId`` alone, like USER_PERSONALIZATION (items
the user already interacted with are left out; a sessionId passed as userId works for anonymous visitors).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from local_stack.loopback import LoopbackServer
from local_stack.personalize.constraints import (
    ARN_PATTERN,
    CONTEXT_KEY,
    FILTER_KEY,
    ApiError,
    Checks,
    attribution_source,
    invalid_input,
    not_found,
)
from local_stack.personalize.faults import FaultInjector
from local_stack.personalize.filters import (
    FilterExpression,
    FilterSyntaxError,
    FilterValuesError,
    build_item_filter,
    parse_filter_expression,
)
from local_stack.personalize.recommender import InteractionModel
from local_stack.personalize.store import Store, dumps

logger = logging.getLogger(__name__)

DEFAULT_NUM_RESULTS = 25
MAX_NUM_RESULTS = 500
MAX_NUM_RESULTS_WITH_METADATA = 50
_DATASET_TYPES = {"ITEMS", "USERS", "INTERACTIONS", "ACTIONS", "ACTION_INTERACTIONS"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

Handler = Callable[[dict[str, Any], int], dict[str, Any] | None]


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


class PersonalizeService:
    """A loopback Amazon Personalize (events + runtime) with an online model and SQLite state."""

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
        """Known resources.

        ``items`` seed the catalog (a stored PutItems record wins on restart); ``datasets`` None accepts any
        well-formed dataset ARN in PutItems/PutUsers; ``db_path`` None keeps state in memory, a file keeps it
        across restarts (the model is rebuilt from the stored events).
        """
        self.faults = FaultInjector()
        self.model = model or InteractionModel()
        self._lock = threading.RLock()
        self._store = Store(db_path)
        self._tracking_ids = set(tracking_ids)
        self._campaigns = set(campaigns)
        self._recommenders = set(recommenders)
        self._filters: dict[str, str] = dict(filters or {})
        self._parsed_filters: dict[str, FilterExpression] = {}
        self._datasets = None if datasets is None else set(datasets)
        self._catalog: dict[str, dict[str, object]] = {}
        self._server: LoopbackServer | None = None
        self._closed = False
        self._routes: dict[tuple[str, str], tuple[str, Handler]] = {
            ("POST", "/events"): ("PutEvents", self._put_events),
            ("POST", "/items"): ("PutItems", self._put_items),
            ("POST", "/users"): ("PutUsers", self._put_users),
            ("POST", "/recommendations"): ("GetRecommendations", self._get_recommendations),
            ("POST", "/personalize-ranking"): ("GetPersonalizedRanking", self._get_personalized_ranking),
        }
        now = time.time()
        with self._store.transaction() as conn:
            for item_id, metadata in (items or {}).items():
                conn.execute(
                    "INSERT OR IGNORE INTO items (item_id, dataset_arn, properties, metadata, updated_at)"
                    " VALUES (?, NULL, ?, ?, ?)",
                    (item_id, dumps(dict(metadata)), dumps(self._normalise(metadata)), now),
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

    @staticmethod
    def _normalise(metadata: Mapping[str, object]) -> dict[str, object]:
        return {column_key(key): value for key, value in metadata.items()}

    def _rebuild(self) -> None:
        """Load the catalog and replay every stored event into the model."""
        with self._lock:
            for row in self._store.query("SELECT item_id, metadata FROM items"):
                self._catalog[row["item_id"]] = json.loads(row["metadata"])
                self.model.add_item(row["item_id"])
            for row in self._store.query(
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

    # --- inspection ----------------------------------------------------------------------------------
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query on the state (tables: requests, events, items, users, recommendations)."""
        return self._store.query(sql, tuple(params))

    # --- operations ----------------------------------------------------------------------------------
    def _put_events(self, body: dict[str, Any], request_id: int) -> None:
        checks = Checks()
        tracking_id = checks.string(body, "trackingId", required=True)
        user_id = checks.string(body, "userId")
        session_id = checks.string(body, "sessionId", required=True)
        events = checks.array(body, "eventList", required=True, min_len=1, max_len=10) or []
        rows: list[dict[str, Any]] = []
        for index, event in enumerate(events, start=1):
            path = f"eventList.{index}.member"
            if not isinstance(event, dict):
                checks.fail(path, "Member must be a structure")
                continue
            properties = checks.json_object(event, "properties", f"{path}.properties", max_len=1024)
            item_id = checks.string(event, "itemId", f"{path}.itemId")
            if item_id is None and properties and isinstance(properties.get("itemId"), str):
                item_id = properties["itemId"]  # the original API carried the item in properties
            impression = checks.array(event, "impression", f"{path}.impression", min_len=1, max_len=25)
            for position, entry in enumerate(impression or [], start=1):
                if not isinstance(entry, str):
                    checks.fail(f"{path}.impression.{position}.member", "Member must be a string")
                else:
                    checks.length(f"{path}.impression.{position}.member", len(entry), 1, 256)
            rows.append(
                {
                    "event_id": checks.string(event, "eventId", f"{path}.eventId"),
                    "event_type": checks.string(event, "eventType", f"{path}.eventType", required=True),
                    "event_value": checks.number(event, "eventValue", f"{path}.eventValue"),
                    "item_id": item_id,
                    "sent_at": checks.number(event, "sentAt", f"{path}.sentAt", required=True),
                    "properties": event.get("properties") if properties is not None else None,
                    "recommendation_id": checks.string(
                        event, "recommendationId", f"{path}.recommendationId", max_len=40
                    ),
                    "impression": dumps(impression),
                    "metric_attribution_source": attribution_source(
                        checks, event, f"{path}.metricAttribution"
                    ),
                }
            )
        checks.raise_if_any()
        assert tracking_id is not None  # checked above
        assert session_id is not None
        with self._lock:
            if tracking_id not in self._tracking_ids:
                raise not_found(f"Tracking id {tracking_id} does not exist.")
            now = time.time()
            with self._store.transaction() as conn:
                for row in rows:
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
                            "tracking_id": tracking_id,
                            "session_id": session_id,
                            "user_id": user_id,
                            "received_at": now,
                        },
                    )
            for row in rows:
                self._learn(session_id, user_id, row["item_id"], row["event_type"], row["sent_at"])

    def _dataset(self, checks: Checks, body: dict[str, Any], expected: str) -> str | None:
        arn = checks.string(body, "datasetArn", required=True, min_len=0, pattern=ARN_PATTERN)
        if arn is None:
            return None
        kind = arn.rsplit("/", 1)[-1].upper()
        if kind in _DATASET_TYPES and kind != expected:
            checks.errors.append(
                f"Dataset {arn} is a {kind} dataset; this operation needs an {expected} dataset."
            )
        return arn

    def _dataset_members(
        self, body: dict[str, Any], dataset: str, max_properties: int
    ) -> tuple[str | None, list[tuple[str, Any, dict[str, Any]]]]:
        """PutItems' and PutUsers' request checked (``items`` of ``itemId``, or ``users`` of ``userId``): the
        dataset ARN and each member's (id, properties as sent, properties parsed)."""
        checks = Checks()
        arn = self._dataset(checks, body, dataset)
        members, id_key = dataset.lower(), f"{dataset.lower()[:-1]}Id"
        entries = checks.array(body, members, required=True, min_len=1, max_len=10) or []
        rows = []
        for index, entry in enumerate(entries, start=1):
            path = f"{members}.{index}.member"
            if not isinstance(entry, dict):
                checks.fail(path, "Member must be a structure")
                continue
            member_id = checks.string(entry, id_key, f"{path}.{id_key}", required=True)
            properties = checks.json_object(entry, "properties", f"{path}.properties", max_len=max_properties)
            if member_id is not None:
                rows.append((member_id, entry.get("properties"), properties or {}))
        checks.raise_if_any()
        if self._datasets is not None and arn not in self._datasets:
            raise not_found(f"Dataset {arn} does not exist.")
        return arn, rows

    def _put_items(self, body: dict[str, Any], request_id: int) -> None:
        arn, members = self._dataset_members(body, "ITEMS", max_properties=32000)
        rows = [(item_id, raw, self._normalise(properties)) for item_id, raw, properties in members]
        now = time.time()
        with self._lock:
            with self._store.transaction() as conn:
                for item_id, raw, metadata in rows:
                    conn.execute(
                        "INSERT OR REPLACE INTO items"
                        " (item_id, dataset_arn, properties, metadata, updated_at) VALUES (?, ?, ?, ?, ?)",
                        (item_id, arn, raw, dumps(metadata), now),
                    )
            for item_id, _, metadata in rows:
                self._catalog[item_id] = metadata
                self.model.add_item(item_id)

    def _put_users(self, body: dict[str, Any], request_id: int) -> None:
        arn, rows = self._dataset_members(body, "USERS", max_properties=24000)
        now = time.time()
        with self._lock, self._store.transaction() as conn:
            for user_id, raw, _ in rows:
                conn.execute(
                    "INSERT OR REPLACE INTO users (user_id, dataset_arn, properties, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (user_id, arn, raw, now),
                )

    def _common_runtime_checks(self, checks: Checks, body: dict[str, Any]) -> dict[str, Any]:
        checks.mapping(body, "context", max_len=150, key_pattern=CONTEXT_KEY, key_max=150, value_max=1000)
        filter_arn = checks.string(body, "filterArn", min_len=0, pattern=ARN_PATTERN)
        filter_values = checks.mapping(
            body, "filterValues", max_len=25, key_pattern=FILTER_KEY, key_max=50, value_max=1000
        )
        columns: list[str] | None = None
        metadata = checks.mapping(body, "metadataColumns", max_len=1)
        if metadata:
            if set(metadata) != {"ITEMS"}:
                checks.fail("metadataColumns", "Member must have the single key ITEMS")
            else:
                columns = checks.array(metadata, "ITEMS", "metadataColumns.ITEMS", min_len=0, max_len=10)
                for position, column in enumerate(columns or [], start=1):
                    if not isinstance(column, str) or not 1 <= len(column) <= 150:
                        checks.fail(
                            f"metadataColumns.ITEMS.{position}.member", "Member must be a column name"
                        )
        return {"filter_arn": filter_arn, "filter_values": filter_values, "columns": columns}

    def _item_filter(
        self, filter_arn: str | None, filter_values: Mapping[str, str] | None, actor: str | None
    ) -> Callable[[str], bool] | None:
        """The request's item predicate; caller holds the lock."""
        if filter_arn is None:
            if filter_values:
                raise invalid_input("filterValues were given without a filterArn.")
            return None
        if filter_arn not in self._filters:
            raise not_found(f"Filter {filter_arn} does not exist.")
        parsed = self._parsed_filters.get(filter_arn)
        if parsed is None:
            try:
                parsed = parse_filter_expression(self._filters[filter_arn])
            except FilterSyntaxError as error:
                raise invalid_input(
                    f"Filter {filter_arn} has an invalid filter expression: {error}"
                ) from error
            self._parsed_filters[filter_arn] = parsed
        event_types = self.model.event_types(actor) if actor else {}
        try:
            return build_item_filter(parsed, filter_values, self._catalog.get, event_types)
        except FilterValuesError as error:
            raise invalid_input(str(error)) from error

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
        self, request_id: int, operation: str, body: dict[str, Any], entries: list[dict[str, Any]]
    ) -> str:
        recommendation_id = f"RID-{uuid.uuid4()}"  # 40 characters: fits PutEvents' recommendationId
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO recommendations (recommendation_id, request_id, operation, campaign_arn,"
                " recommender_arn, user_id, item_id, filter_arn, filter_values, num_results, item_list,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    recommendation_id,
                    request_id,
                    operation,
                    body.get("campaignArn"),
                    body.get("recommenderArn"),
                    body.get("userId"),
                    body.get("itemId"),
                    body.get("filterArn"),
                    dumps(body.get("filterValues")),
                    body.get("numResults"),
                    dumps(entries),
                    time.time(),
                ),
            )
        return recommendation_id

    def _get_recommendations(self, body: dict[str, Any], request_id: int) -> dict[str, Any]:
        checks = Checks()
        campaign_arn = checks.string(body, "campaignArn", min_len=0, pattern=ARN_PATTERN)
        recommender_arn = checks.string(body, "recommenderArn", min_len=0, pattern=ARN_PATTERN)
        item_id = checks.string(body, "itemId", min_len=0)
        user_id = checks.string(body, "userId", min_len=0) or None
        common = self._common_runtime_checks(checks, body)
        columns = common["columns"]
        limit = MAX_NUM_RESULTS_WITH_METADATA if columns else MAX_NUM_RESULTS
        num_results = checks.integer(body, "numResults", minimum=1, maximum=limit)
        promotions = checks.array(body, "promotions", min_len=0, max_len=1)
        del promotions
        checks.raise_if_any()
        if (body.get("campaignArn") is None) == (body.get("recommenderArn") is None):
            raise invalid_input("Provide either a campaignArn or a recommenderArn, but not both.")
        if user_id is None and not item_id:
            raise invalid_input(
                "A userId is required for USER_PERSONALIZATION (or an itemId for RELATED_ITEMS)."
            )
        with self._lock:
            if campaign_arn is not None and campaign_arn not in self._campaigns:
                raise not_found(f"Campaign {campaign_arn} does not exist.")
            if recommender_arn is not None and recommender_arn not in self._recommenders:
                raise not_found(f"Recommender {recommender_arn} does not exist.")
            keep = self._item_filter(common["filter_arn"], common["filter_values"], user_id)
            n = num_results if num_results is not None else DEFAULT_NUM_RESULTS
            if item_id:  # RELATED_ITEMS; a userId only feeds the filter, as in Personalize
                ranked = self.model.related(item_id, n, keep)
            else:
                assert user_id is not None  # checked above
                ranked = self.model.recommend(user_id, n, keep)
            entries = self._item_entries(ranked, columns)
            recommendation_id = self._record(request_id, "GetRecommendations", body, entries)
        return {"itemList": entries, "recommendationId": recommendation_id}

    def _get_personalized_ranking(self, body: dict[str, Any], request_id: int) -> dict[str, Any]:
        checks = Checks()
        campaign_arn = checks.string(body, "campaignArn", required=True, min_len=0, pattern=ARN_PATTERN)
        user_id = checks.string(body, "userId", required=True, min_len=0)
        common = self._common_runtime_checks(checks, body)
        columns = common["columns"]
        limit = MAX_NUM_RESULTS_WITH_METADATA if columns else MAX_NUM_RESULTS
        input_list = checks.array(body, "inputList", required=True, min_len=1, max_len=limit) or []
        for position, entry in enumerate(input_list, start=1):
            if not isinstance(entry, str) or len(entry) > 256:
                checks.fail(
                    f"inputList.{position}.member", "Member must be a string of at most 256 characters"
                )
        checks.raise_if_any()
        assert campaign_arn is not None  # checked above
        assert user_id is not None
        with self._lock:
            if campaign_arn not in self._campaigns:
                raise not_found(f"Campaign {campaign_arn} does not exist.")
            keep = self._item_filter(common["filter_arn"], common["filter_values"], user_id)
            kept = [i for i in input_list if keep is None or keep(i)]
            entries = self._item_entries(self.model.rank(user_id, kept), columns)
            recommendation_id = self._record(request_id, "GetPersonalizedRanking", body, entries)
        return {"personalizedRanking": entries, "recommendationId": recommendation_id}

    # --- HTTP ----------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer one HTTP request: (status, headers, body)."""
        path = urlsplit(target).path.rstrip("/") or "/"
        if path.startswith("/_local/"):
            return self._handle_local(method, path, body)
        if self._closed:
            return self._closed_answer()
        route = self._routes.get((method, path))
        operation = route[0] if route else None
        request_id = self._store.log_request(method, path, body, operation)
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
        status, payload, code, message = 200, b"", None, None
        try:
            if route is None:
                raise ApiError(
                    "UnknownOperationException", 404, f"The local Personalize has no {method} {path}."
                )
            fault = self.faults.take(route[0])
            if fault is not None:
                time.sleep(fault.delay_seconds)
                if self._closed:
                    return self._closed_answer()
                if fault.error is not None:
                    raise ApiError(fault.error, fault.status, fault.message)
            try:
                request = json.loads(body or b"{}")
            except ValueError as error:
                raise ApiError(
                    "SerializationException", 400, f"The request body is not JSON: {error}"
                ) from error
            if not isinstance(request, dict):
                raise ApiError("SerializationException", 400, "The request body must be a JSON object.")
            result = route[1](request, request_id)
            payload = json.dumps(result).encode() if result is not None else b""
        except ApiError as error:
            status, code, message = error.status, error.code, error.message
            headers["X-Amzn-ErrorType"] = error.code
            payload = json.dumps({"message": error.message}).encode()
        except Exception as error:  # noqa: BLE001 - a server answers 500 rather than dropping the connection
            if self._closed:  # a slow (delayed) request outlived close()
                return self._closed_answer()
            logger.exception("local Personalize failed on %s %s", method, path)
            status, code, message = 500, "InternalServerError", f"{type(error).__name__}: {error}"
            headers["X-Amzn-ErrorType"] = code
            payload = json.dumps({"message": message}).encode()
        self._store.finish_request(request_id, status, code, message)
        return status, headers, payload

    @staticmethod
    def _closed_answer() -> tuple[int, dict[str, str], bytes]:
        message = json.dumps({"message": "The local Personalize is closed."}).encode()
        headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": "ServiceUnavailableException"}
        return 503, headers, message

    def _handle_local(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if path == "/_local/health" and method == "GET":
            return 200, headers, b'{"status":"ok"}'
        if path != "/_local/faults" or method not in ("GET", "POST", "DELETE"):
            return 404, headers, json.dumps({"message": f"no {method} {path}"}).encode()
        if method == "POST":
            try:
                arguments = json.loads(body or b"{}")
                if not isinstance(arguments, dict):
                    raise ValueError("the body must be a JSON object")
                self.faults.add(**arguments)
            except (ValueError, TypeError) as error:
                return 400, headers, json.dumps({"message": str(error)}).encode()
        elif method == "DELETE":
            self.faults.clear()
        return 200, headers, json.dumps({"faults": self.faults.pending()}).encode()

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        if self._server is None:
            raise RuntimeError("the local Personalize is not started")
        return self._server.url

    def endpoint_env(self) -> dict[str, str]:
        """The environment variables that point unmodified boto3 clients here."""
        return {
            "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": self.url,
            "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": self.url,
        }

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port) in a background thread; the base URL."""
        if self._server is not None:
            return self.url
        self._server = LoopbackServer((host, port), _handler_for(self))
        self._server.start("local-personalize", poll_interval=0.02)
        return self.url

    def stop(self) -> None:
        """Stop serving (the state stays readable until :meth:`close`)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()

    def close(self) -> None:
        """Stop serving and close the database."""
        self._closed = True
        self.stop()
        self._store.close()

    def __enter__(self) -> PersonalizeService:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _handler_for(service: PersonalizeService) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once on keep-alive connections
        server_version = "LocalPersonalize/1.0"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            status, headers, payload = service.handle(self.command, self.path, body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            logger.debug("%s " + format, self.address_string(), *args)

    return _Handler
