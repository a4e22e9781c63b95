"""The local Amazon Personalize on the wire: routes, the rest-json protocol and the loopback HTTP server.

One HTTP server answers both protocols, whose paths do not collide: ``personalize-events`` (POST ``/events``,
``/items``, ``/users``) and ``personalize-runtime`` (POST ``/recommendations``, ``/personalize-ranking``).
Point both ``AWS_ENDPOINT_URL_PERSONALIZE_EVENTS`` and ``AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME`` (or
``endpoint_url=``) at :attr:`PersonalizeService.url`; :meth:`PersonalizeService.endpoint_env` gives both.

Errors are answered as the real rest-json service does: the HTTP status of the error shape, header
``X-Amzn-ErrorType: <Name>`` and body ``{"message": "..."}``, so botocore's
``ClientError.response["Error"]["Code"]`` is the real error name. Authentication is not checked. A body
that is not JSON is a ``SerializationException``; an unknown trackingId, campaign, recommender, filter or
(when ``datasets`` is given) dataset is a ``ResourceNotFoundException`` (404). ``context`` and
``promotions`` are validated and otherwise ignored.

Injected faults (:mod:`local_stack.faults`; targets are the operation names) answer their error name with
the status of :data:`~local_stack.personalize.exceptions.ERROR_STATUS` (``ThrottlingException`` 400, the
status botocore's retry rules expect; ``InternalServerError`` 500) unless they give one; a fault with only a
status answers the error name of that status. ``retry_after`` is not sent: Personalize sends no
``Retry-After``.

Rate quotas (:mod:`local_stack.personalize.limits`, at the real values unless ``rate_limits`` says otherwise):
GetRecommendations and GetPersonalizedRanking per campaign (or recommender) and per account, PutEvents per
dataset group; a request over one is answered ``ThrottlingException`` (400, "Rate exceeded") before any
injected fault or the operation sees it, and is kept in the request log like every other answer.

Private paths (same server): ``GET /_local/health``; ``GET``/``POST``/``DELETE /_local/faults`` to list,
queue (the arguments of :meth:`~local_stack.faults.FaultInjector.add`, the target also as ``operation``) or
clear injected faults; ``GET``/``POST``/``DELETE /_local/limits`` for the rate limits
(:func:`local_stack.rate_limits.answer_admin`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from local_stack import rate_limits as limits
from local_stack.faults import ADMIN_METHODS, Fault, FaultInjector, answer_admin
from local_stack.loopback import JsonAnswer, JsonLoopbackServer, JsonRequest, JsonRequestHandler
from local_stack.personalize.backend import PersonalizeBackend, RankedItems
from local_stack.personalize.constraints import (
    dataset_request,
    put_events_request,
    ranking_request,
    recommendations_request,
)
from local_stack.personalize.exceptions import (
    ERROR_STATUS,
    STATUS_ERROR,
    ApiError,
    SerializationException,
    ThrottlingException,
    UnknownOperationException,
)
from local_stack.personalize.limits import DEFAULT_RATE_LIMITS, counted
from local_stack.personalize.recommender import InteractionModel

logger = logging.getLogger(__name__)

#: An operation's answer to a request body (and the id the request is logged under): a JSON object or None.
Operation = Callable[[dict[str, Any], int], dict[str, Any] | None]


class _PersonalizeHandler(JsonRequestHandler):
    server_version = "LocalPersonalize/1.0"


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
        rate_limits: limits.Limits | None = None,
    ) -> None:
        """Known resources, and ``rate_limits`` over the real quotas (``local_stack.personalize.limits``).

        ``items`` seed the catalog (a stored PutItems record wins on restart); ``datasets`` None accepts any
        well-formed dataset ARN in PutItems/PutUsers; ``db_path`` None keeps state in memory, a file keeps it
        across restarts (the model is rebuilt from the stored events).
        """
        self.backend = PersonalizeBackend(
            db_path,
            tracking_ids=tracking_ids,
            campaigns=campaigns,
            recommenders=recommenders,
            filters=filters,
            items=items,
            datasets=datasets,
            model=model,
        )
        self.model = self.backend.model
        self._server: JsonLoopbackServer | None = None
        self._closed = False
        self._routes: dict[tuple[str, str], tuple[str, Operation]] = {
            ("POST", "/events"): ("PutEvents", self._put_events),
            ("POST", "/items"): ("PutItems", self._put_items),
            ("POST", "/users"): ("PutUsers", self._put_users),
            ("POST", "/recommendations"): ("GetRecommendations", self._get_recommendations),
            ("POST", "/personalize-ranking"): ("GetPersonalizedRanking", self._get_personalized_ranking),
        }
        self.faults = FaultInjector((name for name, _ in self._routes.values()), target_alias="operation")
        self.limiter = limits.RateLimiter(DEFAULT_RATE_LIMITS, rate_limits)

    # --- configuration and inspection (the backend's) ------------------------------------------------
    def add_tracking_id(self, tracking_id: str) -> None:
        """Accept PutEvents for another event tracker."""
        self.backend.add_tracking_id(tracking_id)

    def add_campaign(self, campaign_arn: str) -> None:
        """Serve another campaign."""
        self.backend.add_campaign(campaign_arn)

    def add_recommender(self, recommender_arn: str) -> None:
        """Serve another recommender."""
        self.backend.add_recommender(recommender_arn)

    def add_filter(self, filter_arn: str, expression: str) -> None:
        """Create a filter; :class:`FilterSyntaxError` when the expression is not understood."""
        self.backend.add_filter(filter_arn, expression)

    def item(self, item_id: str) -> dict[str, object] | None:
        """An item's metadata (columns in upper case), or None."""
        return self.backend.item(item_id)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query on the state (tables: requests, events, items, users, recommendations)."""
        return self.backend.query(sql, params)

    # --- operations: request body -> checked request -> backend -> answer body -------------------------
    def _put_events(self, body: dict[str, Any], request_id: int) -> None:
        self.backend.put_events(put_events_request(body), request_id)

    def _put_items(self, body: dict[str, Any], request_id: int) -> None:
        self.backend.put_items(dataset_request(body, "ITEMS", max_properties=32000), request_id)

    def _put_users(self, body: dict[str, Any], request_id: int) -> None:
        self.backend.put_users(dataset_request(body, "USERS", max_properties=24000), request_id)

    def _get_recommendations(self, body: dict[str, Any], request_id: int) -> dict[str, Any]:
        return _ranked_answer(
            "itemList", self.backend.get_recommendations(recommendations_request(body), request_id)
        )

    def _get_personalized_ranking(self, body: dict[str, Any], request_id: int) -> dict[str, Any]:
        ranked = self.backend.get_personalized_ranking(ranking_request(body), request_id)
        return _ranked_answer("personalizedRanking", ranked)

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
        request_id = self.backend.store.log_request(method, path, body, operation)
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
        status, payload, code, message = 200, b"", None, None
        try:
            if route is None:
                raise UnknownOperationException(f"The local Personalize has no {method} {path}.")
            request = _request_object(body)
            if self.limiter.take(*counted(route[0], request)) is not None:
                raise ThrottlingException()
            fault = self.faults.take(route[0])
            if fault is not None:
                time.sleep(fault.delay_seconds)
                if self._closed:
                    return self._closed_answer()
                if fault.fails:
                    raise _injected_error(fault)
            result = route[1](request, request_id)
            payload = json.dumps(result).encode() if result is not None else b""
        except ApiError as error:
            status, code, message = error.status, error.code, error.message
            headers["X-Amzn-ErrorType"] = error.code
            payload = json.dumps(error.body()).encode()
        except Exception as error:
            if self._closed:  # a slow (delayed) request outlived close()
                return self._closed_answer()
            logger.exception("local Personalize failed on %s %s", method, path)
            status, code, message = 500, "InternalServerError", f"{type(error).__name__}: {error}"
            headers["X-Amzn-ErrorType"] = code
            payload = json.dumps({"message": message}).encode()
        self.backend.store.finish_request(request_id, status, code, message)
        return status, headers, payload

    def _answer(self, request: JsonRequest) -> JsonAnswer:
        status, headers, payload = self.handle(request.method, request.target, request.body or b"")
        return JsonAnswer(status, payload, headers)

    @staticmethod
    def _closed_answer() -> tuple[int, dict[str, str], bytes]:
        message = json.dumps({"message": "The local Personalize is closed."}).encode()
        headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": "ServiceUnavailableException"}
        return 503, headers, message

    def _handle_local(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if path == "/_local/health" and method == "GET":
            return 200, headers, b'{"status":"ok"}'
        if path == "/_local/limits" and method in ADMIN_METHODS:
            try:
                answer = limits.answer_admin(self.limiter, method, json.loads(body or b"{}"))
            except (ValueError, TypeError) as error:
                return 400, headers, json.dumps({"message": str(error)}).encode()
            return 200, headers, json.dumps(answer).encode()
        if path != "/_local/faults" or method not in ADMIN_METHODS:
            return 404, headers, json.dumps({"message": f"no {method} {path}"}).encode()
        try:
            pending = answer_admin(
                self.faults, method, json.loads(body or b"{}") if method == "POST" else None
            )
        except (ValueError, TypeError) as error:
            return 400, headers, json.dumps({"message": str(error)}).encode()
        return 200, headers, json.dumps({"faults": [_listed(fault) for fault in pending]}).encode()

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
        self._server = JsonLoopbackServer((host, port), self._answer, _PersonalizeHandler)
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
        self.backend.close()

    def __enter__(self) -> PersonalizeService:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _request_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; SerializationException otherwise."""
    try:
        request = json.loads(body or b"{}")
    except ValueError as error:
        raise SerializationException(f"The request body is not JSON: {error}") from error
    if not isinstance(request, dict):
        raise SerializationException("The request body must be a JSON object.")
    return request


def _injected_error(fault: Fault) -> ApiError:
    """The answer to a call an injected fault fails."""
    error = fault.error
    if error is None:
        assert fault.status is not None  # the fault fails
        error = STATUS_ERROR.get(
            fault.status, "InternalServerError" if fault.status >= 500 else "InvalidInputException"
        )
    status = fault.status or ERROR_STATUS.get(error, 400)
    return ApiError(error, status, fault.message or f"Injected fault: {error}")


def _listed(pending: dict[str, Any]) -> dict[str, Any]:
    """A pending fault as ``/_local/faults`` lists it: the operation, the error and status it answers."""
    fault = Fault(**{key: value for key, value in pending.items() if key != "count"})
    error = _injected_error(fault) if fault.fails else None
    return {
        "operation": fault.target,
        "error": error.code if error else None,
        "count": pending["count"],
        "delay_seconds": fault.delay_seconds,
        "status": error.status if error else 400,  # a delay alone has always been listed so
        "message": error.message if error else fault.message or "Injected delay",
    }


def _ranked_answer(list_key: str, ranked: RankedItems) -> dict[str, Any]:
    return {list_key: ranked.entries, "recommendationId": ranked.recommendation_id}
