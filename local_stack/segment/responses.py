"""The local Segment service on the wire: Tracking API, Profile API and a private ``/_local`` admin path on
one port (routes, request and error shapes, paging); what messages do to profiles is in ``backend``."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import json
import logging
import threading
import uuid
import zlib
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_stack import rate_limits
from local_stack.faults import ADMIN_METHODS, Fault, FaultInjector, answer_admin
from local_stack.loopback import (
    JsonAnswer,
    JsonLoopbackServer,
    JsonRequest,
    JsonRequestHandler,
    internal_error,
)
from local_stack.rate_limits import Limits, RateLimiter
from local_stack.segment.backend import MESSAGE_TYPES, SegmentBackend, now_iso, parse_external_id
from local_stack.segment.limits import DEFAULT_RATE_LIMITS, WORKSPACE, profile_throttled, tracking_throttled
from local_stack.segment.paging import (
    LIST_DEFAULT_LIMIT,
    LIST_MAX_LIMIT,
    TRAITS_DEFAULT_LIMIT,
    TRAITS_MAX_LIMIT,
    filter_events,
    paged,
)
from local_stack.segment.store import SegmentStore

log = logging.getLogger("local_stack.segment")

MAX_MESSAGE_BYTES = 32 * 1024  # Segment: 32 KB a message
MAX_BATCH_BYTES = 500 * 1024  # Segment: 500 KB a batch request
MAX_READ_BYTES = 4 * 1024 * 1024  # read (and discard) bodies up to this; larger ones close the connection
TRACKING_ENDPOINTS = {*MESSAGE_TYPES, "batch", "import"}  # /v1/import is the old name of /v1/batch
PROFILE_RESOURCES = {"traits", "events", "external_ids", "metadata"}
#: The APIs, the targets of injected faults.
APIS = ("tracking", "profile")


def write_key_id(write_key: str) -> str:
    """A stable, non-secret id for a write key (stored instead of the key; shown as ``source_id``)."""
    return "wk_" + hashlib.sha256(write_key.encode()).hexdigest()[:12]


def _basic_username(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]


def _tracking_error(status: int, code: str, message: str) -> JsonAnswer:
    # segment-analytics-python reads "code" and "message" of an error body into its APIError.
    return JsonAnswer(status, {"code": code, "message": message})


def _profile_error(status: int, code: str, message: str) -> JsonAnswer:
    # The Profile API's documented error body.
    return JsonAnswer(status, {"error": {"code": code, "message": message}})


def _fault_status(fault: Fault) -> int | None:
    """The status a fault answers: its own, 500 for an error name alone, None for a delay alone."""
    return fault.status or (500 if fault.error else None)


def _fault_response(fault: Fault, status: int) -> JsonAnswer:
    codes = {429: "rate_limit_error" if fault.target == "profile" else "too_many_requests"}
    code = fault.error or codes.get(status, "server_error" if status >= 500 else "invalid_request_error")
    message = fault.message or f"injected fault: HTTP {status}"
    error = _profile_error if fault.target == "profile" else _tracking_error
    answer = error(status, code, message)
    if fault.retry_after is not None:
        answer.headers["Retry-After"] = str(fault.retry_after)
    return answer


def _listed(pending: dict[str, Any]) -> dict[str, Any]:
    """A pending fault as ``/_local/faults`` lists it (``error`` and ``message`` only when given)."""
    fault = Fault(**{key: value for key, value in pending.items() if key != "count"})
    listed = {
        "api": fault.target,
        "status": _fault_status(fault),
        "delay_seconds": fault.delay_seconds,
        "retry_after": fault.retry_after,
        "count": pending["count"],
    }
    listed.update({key: pending[key] for key in ("error", "message") if pending[key] is not None})
    return listed


class _Refused(Exception):
    """A tracking request answered before any message is stored."""

    def __init__(self, answer: JsonAnswer) -> None:
        super().__init__(answer.body)
        self.answer = answer


def _tracking_payload(raw: bytes | None, headers: dict[str, str], is_batch: bool) -> dict[str, Any]:
    """The request body as a JSON object, within the size limit; _Refused (400) otherwise."""
    limit = MAX_BATCH_BYTES if is_batch else MAX_MESSAGE_BYTES
    if raw is None:
        raise _Refused(_tracking_error(400, "payload_too_large", f"request is larger than {limit} bytes"))
    if headers.get("content-encoding", "").lower() == "gzip":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
                data = gz.read(limit + 1)
        except (OSError, EOFError, zlib.error) as e:
            raise _Refused(_tracking_error(400, "invalid_request", f"body is not valid gzip: {e}")) from e
    else:
        data = raw
    if len(data) > limit:
        what = "batch" if is_batch else "message"
        raise _Refused(_tracking_error(400, "payload_too_large", f"{what} is larger than {limit // 1024} KB"))
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise _Refused(_tracking_error(400, "invalid_json", f"body is not valid JSON: {e}")) from e
    if not isinstance(payload, dict):
        raise _Refused(_tracking_error(400, "invalid_request", "body must be a JSON object"))
    return payload


def _tracking_messages(payload: dict[str, Any], endpoint: str, is_batch: bool) -> list[dict[str, Any]]:
    """The messages of a batch (each within 32 KB), or the one message of ``/v1/<type>``; _Refused (400)."""
    if not is_batch:
        message = dict(payload)
        message["type"] = endpoint
        return [message]  # its size was measured whole
    batch = payload.get("batch")
    if not isinstance(batch, list) or not all(isinstance(m, dict) for m in batch):
        raise _Refused(_tracking_error(400, "invalid_request", "'batch' must be a list of message objects"))
    messages = [dict(m) for m in batch]
    for index, msg in enumerate(messages):
        size = len(json.dumps(msg, separators=(",", ":")).encode())
        if size > MAX_MESSAGE_BYTES:
            raise _Refused(
                _tracking_error(
                    400, "payload_too_large", f"message {index} is {size} bytes, over the 32 KB limit"
                )
            )
    return messages


def _complete(msg: dict[str, Any], batch: dict[str, Any] | None, received_at: str) -> None:
    """Fill a message in as Segment's edge does: the batch's ``context`` and ``integrations`` under its own,
    a ``messageId`` when it has none, the batch's ``sentAt``, ``receivedAt``; the write key dropped."""
    msg.pop("writeKey", None)
    if batch is not None:
        for shared in ("context", "integrations"):
            outer, inner = batch.get(shared), msg.get(shared)
            if isinstance(outer, dict):
                msg[shared] = {**outer, **(inner if isinstance(inner, dict) else {})}
    if not msg.get("messageId"):
        msg["messageId"] = f"local-{uuid.uuid4()}"
    if "sentAt" not in msg and batch is not None and batch.get("sentAt") is not None:
        msg["sentAt"] = batch["sentAt"]
    msg["receivedAt"] = received_at


class _SegmentHandler(JsonRequestHandler):
    server_version = "LocalSegment/1.0"
    timeout = 30  # idle keep-alive connections close after this
    max_body_bytes = MAX_READ_BYTES


class SegmentService:
    """Segment's Tracking API (``/v1/batch``, ``/v1/identify``, ...) and Profile API on one loopback port."""

    def __init__(
        self,
        db_path: str | None = None,
        write_keys: Iterable[str] = ("local-write-key",),
        space_id: str = "local-space",
        access_token: str = "local-profile-token",  # noqa: S107 - a local fake token
        reject_unknown_write_keys: bool = True,
        rate_limits: Limits | None = None,
    ) -> None:
        """``reject_unknown_write_keys=False`` answers 200 and drops the batch, as the real API does;
        ``rate_limits`` overrides the real limits (``profile``, ``tracking``; None turns one off)."""
        self.write_keys = frozenset(write_keys)
        self.space_id = space_id
        self.access_token = access_token
        self.reject_unknown_write_keys = reject_unknown_write_keys
        self.store = SegmentStore(db_path)
        self.backend = SegmentBackend(self.store)
        self.faults = FaultInjector(APIS, target_alias="api")
        self.limiter = RateLimiter(DEFAULT_RATE_LIMITS, rate_limits)
        self._server: JsonLoopbackServer | None = None
        self._stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL (``http://127.0.0.1:<port>``)."""
        if self._server is not None:
            raise RuntimeError("SegmentService is already started")
        self._stopping.clear()
        self._server = JsonLoopbackServer((host, port), self._answer, _SegmentHandler)
        self._server.start("local-segment")
        log.info("local Segment service on %s", self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving (the stored state stays readable until ``close``)."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.stop()
        self._server = None

    def close(self) -> None:
        """Stop and close the database."""
        self.stop()
        self.store.close()

    @property
    def url(self) -> str:
        """Base URL of the running service; both APIs and ``/_local`` live under it."""
        if self._server is None:
            raise RuntimeError("SegmentService is not started")
        return self._server.url

    def __enter__(self) -> SegmentService:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- Python admin API (same data as /_local) ------------------------------------------------------

    def profile_traits(self, external_id: str) -> dict[str, Any] | None:
        """All traits of the profile ``external_id`` (e.g. ``user_id:u1``) resolves to, or None."""
        profile_id = self.backend.profile_id_for(external_id)
        return None if profile_id is None else self.backend.traits(profile_id)[0]

    def profile(self, external_id: str) -> dict[str, Any] | None:
        """Profile id, external ids, traits and metadata of ``external_id``'s profile, or None."""
        profile_id = self.backend.profile_id_for(external_id)
        return None if profile_id is None else self.backend.profile(profile_id)

    def profiles(self) -> list[dict[str, Any]]:
        """Every profile."""
        return self.backend.profiles()

    def profile_events(self, external_id: str) -> list[dict[str, Any]] | None:
        """The profile's event timeline, oldest first, or None for an unknown profile."""
        profile_id = self.backend.profile_id_for(external_id)
        return None if profile_id is None else self.backend.events(profile_id)

    def messages(self, message_type: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Stored message bodies (with ``receivedAt``) in arrival order, filtered by ``type``/``status``."""
        return self.backend.messages(message_type=message_type, status=status)

    def message_log(self, message_type: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Stored messages with ``status`` (applied/rejected), ``reason``, ``duplicates``, ``writeKeyId``."""
        return self.backend.messages(message_type=message_type, status=status, with_meta=True)

    def arrivals(self, message_type: str | None = None) -> list[dict[str, Any]]:
        """Every message that reached the tracking API's ingest, in order, before its messageId dedupe
        (``outcome`` applied, rejected or duplicate); see :meth:`SegmentBackend.arrivals`."""
        return self.backend.arrivals(message_type)

    def set_traits(self, external_id: str, traits: dict[str, Any]) -> None:
        """Seed traits on a profile directly (merged like an identify; the profile is created if needed)."""
        self.backend.set_traits(external_id, traits)

    def reset(self) -> None:
        """Forget every message, profile and pending fault; the starting rate limits, buckets full."""
        self.backend.reset()
        self.faults.clear()
        self.limiter.reset()

    # -- request handling -----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> JsonAnswer:
        """Route one HTTP request (``body`` None: larger than the service reads)."""
        parts = urlsplit(target)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if len(segments) == 2 and segments[0] == "v1" and segments[1] in TRACKING_ENDPOINTS:
            if method != "POST":
                return _tracking_error(405, "method_not_allowed", "use POST")
            return self._tracking(segments[1], headers, body)
        if segments[:2] == ["v1", "spaces"]:
            if method != "GET":
                return _profile_error(405, "invalid_request_error", "use GET")
            return self._profile_api(segments, parts, query, headers)
        if segments and segments[0] == "_local":
            return self._admin(method, segments[1:], query, body)
        return JsonAnswer(
            404, {"error": {"code": "not_found", "message": f"no route for {method} {parts.path}"}}
        )

    def _answer(self, request: JsonRequest) -> JsonAnswer:
        """The server's entry: :meth:`handle` (looked up per request, so a test can wrap it), a request id."""
        try:
            answer = self.handle(request.method, request.target, request.headers, request.body)
        except Exception:
            log.exception("local Segment service failed on %s %s", request.method, request.target)
            answer = internal_error()
        return JsonAnswer(
            answer.status, answer.body, {"Request-Id": str(uuid.uuid4()), **answer.headers}, answer.close
        )

    def _take_fault(self, api: str) -> JsonAnswer | None:
        fault = self.faults.take(api)
        if fault is None:
            return None
        if fault.delay_seconds:
            self._stopping.wait(fault.delay_seconds)
        status = _fault_status(fault)
        return None if status is None else _fault_response(fault, status)

    def _tracking(self, endpoint: str, headers: dict[str, str], raw: bytes | None) -> JsonAnswer:
        wait = self.limiter.take(("tracking", WORKSPACE))
        if wait is not None:
            return tracking_throttled(wait)
        fault = self._take_fault("tracking")
        if fault is not None:
            return fault
        is_batch = endpoint in ("batch", "import")
        try:
            payload = _tracking_payload(raw, headers, is_batch)
            write_key = _basic_username(headers.get("authorization"))
            if not write_key and isinstance(payload.get("writeKey"), str):
                write_key = payload["writeKey"]
            if not write_key or write_key not in self.write_keys:
                if not self.reject_unknown_write_keys:
                    return JsonAnswer(200, {"success": True})  # the real edge accepts and drops
                return _tracking_error(401, "unauthorized", "missing or invalid write key")
            messages = _tracking_messages(payload, endpoint, is_batch)
        except _Refused as refused:
            return refused.answer
        received_at, key_id = now_iso(), write_key_id(write_key)
        for msg in messages:
            _complete(msg, payload if is_batch else None, received_at)
            outcome = self.backend.ingest(msg, key_id, received_at)
            log.debug("message %s (%s): %s", msg["messageId"], msg.get("type"), outcome)
        return JsonAnswer(200, {"success": True})

    def _profile_api(
        self, segments: list[str], parts: Any, query: dict[str, str], headers: dict[str, str]
    ) -> JsonAnswer:
        if self.limiter.take(("profile", segments[2] if len(segments) > 2 else "")) is not None:
            return profile_throttled()  # per space, the space the path names
        fault = self._take_fault("profile")
        if fault is not None:
            return fault
        if _basic_username(headers.get("authorization")) != self.access_token:
            return _profile_error(401, "authentication_error", "No valid Access Token provided.")
        # v1 / spaces / {space} / collections / {collection} / profiles / {external_id} / {resource}
        if len(segments) < 3 or segments[2] != self.space_id:
            return _profile_error(404, "not_found", "Space was not found.")
        if len(segments) != 8 or segments[3] != "collections" or segments[5] != "profiles":
            return _profile_error(404, "not_found", "Resource was not found.")
        collection, external_id, resource = segments[4], segments[6], segments[7]
        if collection != "users" or resource not in PROFILE_RESOURCES:
            return _profile_error(404, "not_found", "Resource was not found.")
        parsed = parse_external_id(external_id)
        profile_id = None if parsed is None else self.backend.profile_id_for(external_id)
        if profile_id is None:
            return _profile_error(404, "not_found", "Profile was not found.")
        url = parts.path + (f"?{parts.query}" if parts.query else "")
        if resource == "traits":
            return self._traits(profile_id, query, url)
        if resource == "metadata":
            return JsonAnswer(200, {"metadata": self.backend.metadata(profile_id)})
        items = (
            self.backend.events(profile_id) if resource == "events" else self.backend.external_ids(profile_id)
        )
        if resource == "events":
            items = filter_events(items, query)
        elif query.get("include"):
            wanted = {t.strip() for t in query["include"].split(",")}
            items = [i for i in items if i["type"] in wanted]
        return paged(items, query, url, "data", LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)

    def _traits(self, profile_id: str, query: dict[str, str], url: str) -> JsonAnswer:
        traits, meta = self.backend.traits(profile_id)
        keys = sorted(traits)
        if query.get("include"):
            wanted = [k.strip() for k in query["include"].split(",") if k.strip()]
            keys = [k for k in dict.fromkeys(wanted) if k in traits]
        if query.get("class") in ("audience", "computed_trait"):
            keys = []  # no audiences or computed traits exist locally
        verbose = query.get("verbose", "").lower() == "true"
        values = {
            k: (
                {
                    "value": traits[k],
                    "source_id": meta.get(k, {}).get("source_id"),
                    "updated_at": meta.get(k, {}).get("updated_at"),
                }
                if verbose
                else traits[k]
            )
            for k in keys
        }
        return paged(list(values.items()), query, url, "traits", TRAITS_DEFAULT_LIMIT, TRAITS_MAX_LIMIT)

    def _log(self, name: str, query: dict[str, str]) -> JsonAnswer:
        """``/_local/messages`` (stored messages) or ``/_local/arrivals`` (every arrival, before dedupe)."""
        if name == "arrivals":
            return JsonAnswer(200, {"arrivals": self.arrivals(query.get("type"))})
        records = self.message_log(message_type=query.get("type"), status=query.get("status"))
        for key, column in (("user_id", "userId"), ("anonymous_id", "anonymousId")):
            if key in query:
                records = [r for r in records if r[column] == query[key]]
        return JsonAnswer(200, {"messages": records})

    def _admin(self, method: str, path: list[str], query: dict[str, str], raw: bytes | None) -> JsonAnswer:
        try:
            payload = json.loads(raw) if raw else None
        except ValueError as e:
            return JsonAnswer(400, {"error": f"body is not valid JSON: {e}"})
        route = (method, path[0] if path else "")
        if route == ("GET", "health"):
            return JsonAnswer(200, {"ok": True, "space_id": self.space_id})
        if route in (("GET", "messages"), ("GET", "arrivals")):
            return self._log(route[1], query)
        if route == ("GET", "profiles"):
            if len(path) == 1:
                return JsonAnswer(200, {"profiles": self.profiles()})
            profile = self.profile(path[1])
            if profile is None:
                return JsonAnswer(404, {"error": f"no profile for {path[1]!r}"})
            return JsonAnswer(200, profile)
        if route in (("PUT", "profiles"), ("POST", "profiles")) and len(path) == 3 and path[2] == "traits":
            traits = payload.get("traits") if isinstance(payload, dict) else None
            if not isinstance(traits, dict):
                return JsonAnswer(400, {"error": 'body must be {"traits": {...}}'})
            try:
                self.set_traits(path[1], traits)
            except ValueError as e:
                return JsonAnswer(400, {"error": str(e)})
            return JsonAnswer(200, {"traits": self.profile_traits(path[1])})
        if path == ["faults"] and method in ADMIN_METHODS:
            try:
                pending = answer_admin(self.faults, method, payload)
            except (ValueError, TypeError) as e:
                return JsonAnswer(400, {"error": str(e)})
            return JsonAnswer(200, {"faults": [_listed(fault) for fault in pending]})
        if path == ["limits"] and method in ADMIN_METHODS:
            try:
                return JsonAnswer(200, rate_limits.answer_admin(self.limiter, method, payload))
            except (ValueError, TypeError) as e:
                return JsonAnswer(400, {"error": str(e)})
        if route == ("POST", "reset"):
            self.reset()
            return JsonAnswer(200, {"ok": True})
        return JsonAnswer(404, {"error": f"no admin route for {method} /_local/{'/'.join(path)}"})
