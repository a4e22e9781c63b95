"""The Profile API's list answers: one page of traits, events or external ids with its cursor, and the
event filters (``include``, ``exclude``, ``sort``)."""

from __future__ import annotations

from typing import Any

from local_stack.loopback import JsonAnswer

TRAITS_DEFAULT_LIMIT, TRAITS_MAX_LIMIT = 10, 200  # Profile API: 10 traits unless ?limit= (up to 200)
LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 10, 100  # events and external_ids pages


def _profile_error(status: int, code: str, message: str) -> JsonAnswer:
    # The Profile API's documented error body.
    return JsonAnswer(status, {"error": {"code": code, "message": message}})


def filter_events(events: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    def name(e: dict[str, Any]) -> str:
        return str(e.get("event") or e["type"])

    if query.get("include"):
        wanted = {n.strip() for n in query["include"].split(",")}
        events = [e for e in events if name(e) in wanted]
    if query.get("exclude"):
        unwanted = {n.strip() for n in query["exclude"].split(",")}
        events = [e for e in events if name(e) not in unwanted]
    if query.get("sort", "desc").lower() != "asc":
        events = list(reversed(events))
    return events


def paged(
    items: list[Any], query: dict[str, str], url: str, key: str, default_limit: int, max_limit: int
) -> JsonAnswer:
    """One page of ``items``; ``next`` is an opaque offset cursor. Trait items are (name, value) pairs."""
    try:
        limit = int(query.get("limit") or default_limit)
        offset = int(query.get("next") or 0)
    except ValueError:
        return _profile_error(400, "validation_error", "limit and next must be integers")
    if not 1 <= limit <= max_limit:
        return _profile_error(400, "validation_error", f"limit must be between 1 and {max_limit}")
    if offset < 0:
        return _profile_error(400, "validation_error", "next is not a valid cursor")
    page = items[offset : offset + limit]
    has_more = offset + limit < len(items)
    body: dict[str, Any] = {key: dict(page) if key == "traits" else page}
    body["cursor"] = {"url": url, "has_more": has_more, "next": str(offset + limit) if has_more else ""}
    if key == "traits":
        body["cursor"]["limit"] = limit
    return JsonAnswer(200, body)
