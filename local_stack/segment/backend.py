"""Segment's rules, applied to each accepted message (a faithful but small subset of Segment Unify):

- **Dedupe**: a messageId already stored is not applied again; its ``duplicates`` counter goes up. Every
  arrival is logged before the dedupe (:meth:`SegmentBackend.arrivals`), so that a test can count how many
  times a message reached Segment.
- **Rejected, still 200**: a message without userId/anonymousId, a track without ``event``, an alias
  without ``previousId``, a group without ``groupId``, an unknown ``type`` or non-object ``traits`` is stored
  with ``status="rejected"`` and a reason, and changes no profile (Segment answers 200 and drops it too).
- **Identity resolution**: the external ids of a message (``user_id:<userId>``,
  ``anonymous_id:<anonymousId>``) select a profile; ids not seen before are attached to it; when the ids
  belong to two profiles they are merged (the userId's profile survives), unless that would give one profile
  two different user_ids (Segment's default limit of one user_id per profile), in which case they stay
  apart. ``alias`` merges the profile of ``previousId`` (looked up as user_id, then anonymous_id) into the
  userId's profile.
- **Traits**: ``identify`` merges ``traits`` into the profile at the top level: new keys are added, existing
  keys overwritten, nested objects and lists replaced whole, ``null`` stored as null (the key stays). Only
  identify changes traits (not ``context.traits``). When profiles merge, each trait keeps the most recently
  written value.
- **Events**: every applied message (identify, track, page, screen, group, alias) is added to the profile's
  event timeline.

State is in :class:`~local_stack.segment.store.SegmentStore`; the wire protocol is in ``responses``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from local_stack.segment.store import SegmentStore

IDENTIFY, TRACK, PAGE, SCREEN, GROUP, ALIAS = "identify", "track", "page", "screen", "group", "alias"
MESSAGE_TYPES = (IDENTIFY, TRACK, PAGE, SCREEN, GROUP, ALIAS)


class RejectedMessage(ValueError):
    """A message Segment would answer 200 for but not apply (the reason is its text)."""


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_external_id(external_id: str) -> tuple[str, str] | None:
    """Split ``user_id:u1`` into (``user_id``, ``u1``); None when it is not ``<lowercase type>:<value>``."""
    id_type, sep, value = external_id.partition(":")
    if not sep or not value or not id_type or id_type != id_type.lower():
        return None
    if not all(c.isalnum() or c == "_" for c in id_type):
        return None
    return id_type, value


def merge_traits(
    traits: dict[str, Any], meta: dict[str, Any], new: dict[str, Any], stamp: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Top-level merge of ``new`` into ``traits`` (new keys added, others overwritten, nulls kept as null)."""
    merged, merged_meta = dict(traits), dict(meta)
    for key, value in new.items():
        merged[key] = value
        merged_meta[key] = stamp
    return merged, merged_meta


def _identifier(msg: dict[str, Any], field: str) -> str | None:
    value = msg.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RejectedMessage(f"{field} must be a string")
    return str(value)


def _checked_event_name(msg: dict[str, Any]) -> str | None:
    """The event name a message adds to the timeline; RejectedMessage for a message Segment drops."""
    msg_type = msg.get("type")
    if msg_type not in MESSAGE_TYPES:
        raise RejectedMessage(f"unknown message type {msg_type!r}")
    user_id, anonymous_id = _identifier(msg, "userId"), _identifier(msg, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise RejectedMessage("userId or anonymousId is required")
    name: str | None = None
    if msg_type == TRACK:
        name = msg.get("event")
        if not isinstance(name, str) or not name:
            raise RejectedMessage("track requires a non-empty event")
    elif msg_type in (PAGE, SCREEN):
        name = msg.get("name") if isinstance(msg.get("name"), str) else None
    elif msg_type == IDENTIFY and msg.get("traits") is not None and not isinstance(msg.get("traits"), dict):
        raise RejectedMessage("identify traits must be an object")
    elif msg_type == GROUP and _identifier(msg, "groupId") is None:
        raise RejectedMessage("group requires groupId")
    elif msg_type == ALIAS:
        if user_id is None:
            raise RejectedMessage("alias requires userId")
        if _identifier(msg, "previousId") is None:
            raise RejectedMessage("alias requires previousId")
    return name


class SegmentBackend:
    """Messages in, profiles out: the rules above over one :class:`SegmentStore`."""

    def __init__(self, store: SegmentStore) -> None:
        self.store = store

    # -- writes ---------------------------------------------------------------------------------------

    def ingest(self, msg: dict[str, Any], write_key_id: str, received_at: str) -> str:
        """Store one message and apply it; returns ``applied``, ``rejected`` or ``duplicate``."""
        message_id = str(msg["messageId"])
        with self.store.transaction():
            status = self._ingest(msg, message_id, write_key_id, received_at)
            user_id = msg.get("userId")
            self.store.insert_arrival(
                {
                    "message_id": message_id,
                    "type": msg.get("type") if isinstance(msg.get("type"), str) else None,
                    "user_id": None if user_id is None else str(user_id),
                    "received_at": received_at,
                    "outcome": status,
                }
            )
            return status

    def _ingest(self, msg: dict[str, Any], message_id: str, write_key_id: str, received_at: str) -> str:
        """:meth:`ingest` inside its transaction."""
        if self.store.has_message(message_id):
            self.store.count_duplicate(message_id)
            return "duplicate"
        status, reason, profile_id = "applied", None, None
        try:
            profile_id = self._apply(msg, message_id, write_key_id, received_at)
        except RejectedMessage as e:
            status, reason = "rejected", str(e)
        user_id, anonymous_id = msg.get("userId"), msg.get("anonymousId")
        self.store.insert_message(
            {
                "message_id": message_id,
                "type": msg.get("type") if isinstance(msg.get("type"), str) else None,
                "user_id": None if user_id is None else str(user_id),
                "anonymous_id": None if anonymous_id is None else str(anonymous_id),
                "write_key_id": write_key_id,
                "received_at": received_at,
                "status": status,
                "reason": reason,
                "profile_id": profile_id,
                "body": msg,
            }
        )
        return status

    def set_traits(self, external_id: str, traits: dict[str, Any], source_id: str = "local-admin") -> str:
        """Merge ``traits`` into ``external_id``'s profile (created if needed); returns the profile id."""
        parsed = parse_external_id(external_id)
        if parsed is None:
            raise ValueError(f"external id must look like 'user_id:u1', got {external_id!r}")
        if not isinstance(traits, dict):
            raise ValueError("traits must be an object")
        now = now_iso()
        with self.store.transaction():
            profile_id = self._resolve([parsed], None, source_id, now)
            self._write_traits(profile_id, traits, source_id, now)
            return profile_id

    def reset(self) -> None:
        """Forget every message, profile, identity and event."""
        self.store.reset()

    # -- reads ----------------------------------------------------------------------------------------

    def profile_id_for(self, external_id: str) -> str | None:
        """The profile an external id (``user_id:u1``) resolves to, or None."""
        return self.store.profile_id_for(external_id)

    def traits(self, profile_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A profile's traits and, per trait, ``{"clock", "updated_at", "source_id"}``."""
        row = self.store.profile_row(profile_id)
        return ({}, {}) if row is None else (row["traits"], row["trait_meta"])

    def external_ids(self, profile_id: str) -> list[dict[str, Any]]:
        """A profile's external ids, oldest first."""
        return [
            {
                "source_id": r["source_id"],
                "collection": "users",
                "id": r["value"],
                "type": r["type"],
                "created_at": r["created_at"],
                "encoding": "none",
                "first_message_id": r["first_message_id"],
            }
            for r in self.store.identity_rows(profile_id)
        ]

    def metadata(self, profile_id: str) -> dict[str, Any] | None:
        """Created/updated times and first/last message of a profile."""
        row = self.store.profile_row(profile_id)
        if row is None:
            return None
        return {
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "expires_at": None,
            "first_message_id": row["first_message_id"],
            "first_source_id": row["first_source_id"],
            "last_message_id": row["last_message_id"],
            "last_source_id": row["last_source_id"],
        }

    def events(self, profile_id: str) -> list[dict[str, Any]]:
        """A profile's events, oldest first, as the Profile API shows them (before paging)."""
        rows = self.store.event_rows(profile_id)
        ids = [
            {k: v for k, v in e.items() if k in ("collection", "type", "id", "encoding")}
            for e in self.external_ids(profile_id)
        ]
        out = []
        for r in rows:
            body = r["body"]
            event: dict[str, Any] = {
                "external_ids": ids,
                "context": body.get("context", {}),
                "type": r["type"],
                "message_id": r["message_id"],
                "source_id": r["source_id"],
                "timestamp": r["timestamp"],
                "properties": body.get("properties", {}),
                "event": r["name"],
                "related": {"users": profile_id},
            }
            if r["type"] == IDENTIFY:
                event["traits"] = body.get("traits", {})
            out.append(event)
        return out

    def profiles(self) -> list[dict[str, Any]]:
        """Every profile with its external ids and traits."""
        out = []
        for profile_id in self.store.profile_ids():
            profile = self.profile(profile_id)
            if profile is not None:
                out.append(profile)
        return out

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        """One profile: id, external ids (``type:value``), traits and metadata."""
        metadata = self.metadata(profile_id)
        if metadata is None:
            return None
        traits, _ = self.traits(profile_id)
        external_ids = [f"{e['type']}:{e['id']}" for e in self.external_ids(profile_id)]
        return {
            "profile_id": profile_id,
            "external_ids": external_ids,
            "traits": traits,
            "metadata": metadata,
        }

    def arrivals(self, message_type: str | None = None) -> list[dict[str, Any]]:
        """Every message that reached :meth:`ingest`, in order, counted before the messageId dedupe:
        ``seq``, ``messageId``, ``type``, ``userId``, ``receivedAt`` and ``outcome`` (applied, rejected,
        duplicate). A request answered with an injected fault or a 4xx never reaches it."""
        return [
            {
                "seq": r["seq"],
                "messageId": r["message_id"],
                "type": r["type"],
                "userId": r["user_id"],
                "receivedAt": r["received_at"],
                "outcome": r["outcome"],
            }
            for r in self.store.arrival_rows(message_type)
        ]

    def messages(
        self, message_type: str | None = None, status: str | None = None, with_meta: bool = False
    ) -> list[dict[str, Any]]:
        """Stored messages in arrival order; bodies only, or records with ``status``, ``reason``, ... ."""
        rows = self.store.message_rows(message_type=message_type, status=status)
        if not with_meta:
            return [r["body"] for r in rows]
        return [
            {
                "seq": r["seq"],
                "messageId": r["message_id"],
                "type": r["type"],
                "userId": r["user_id"],
                "anonymousId": r["anonymous_id"],
                "writeKeyId": r["write_key_id"],
                "receivedAt": r["received_at"],
                "status": r["status"],
                "reason": r["reason"],
                "duplicates": r["duplicates"],
                "profileId": r["profile_id"],
                "body": r["body"],
            }
            for r in rows
        ]

    # -- the rules (inside a transaction) -------------------------------------------------------------

    def _apply(self, msg: dict[str, Any], message_id: str, source_id: str, received_at: str) -> str:
        name = _checked_event_name(msg)
        msg_type = msg["type"]
        ids: list[tuple[str, str]] = []
        for id_type, field in (("user_id", "userId"), ("anonymous_id", "anonymousId")):
            value = _identifier(msg, field)
            if value is not None:
                ids.append((id_type, value))
        profile_id = self._resolve(ids, message_id, source_id, received_at)
        if msg_type == ALIAS:
            previous = str(_identifier(msg, "previousId"))
            for id_type in ("user_id", "anonymous_id"):
                other = self.store.profile_id_for(f"{id_type}:{previous}")
                if other is not None and other != profile_id:
                    self._merge_profiles(profile_id, other)
                    break
        if msg_type == IDENTIFY:
            self._write_traits(profile_id, msg.get("traits") or {}, source_id, received_at)
        self.store.insert_event(
            {
                "message_id": message_id,
                "seq": self.store.tick(),
                "profile_id": profile_id,
                "type": msg_type,
                "name": name,
                "timestamp": msg.get("timestamp") or msg.get("originalTimestamp") or received_at,
                "source_id": source_id,
                "body": msg,
            }
        )
        self.store.record_last_message(profile_id, received_at, message_id, source_id)
        return profile_id

    def _can_merge(self, a: str, b: str) -> bool:
        ua, ub = self.store.user_ids(a), self.store.user_ids(b)
        return not (ua and ub and ua != ub)

    def _resolve(self, ids: list[tuple[str, str]], message_id: str | None, source_id: str, now: str) -> str:
        """Pick (or create) the profile for ``ids``, merging and attaching as the rules allow."""
        owners = {f"{t}:{v}": self.store.profile_id_for(f"{t}:{v}") for t, v in ids}
        user_id = next((v for t, v in ids if t == "user_id"), None)
        target = owners.get(f"user_id:{user_id}") if user_id is not None else None
        if target is None:
            for owner in owners.values():
                if owner is not None and (user_id is None or self.store.user_ids(owner) <= {user_id}):
                    target = owner
                    break
        if target is None:
            target = "use_" + uuid.uuid4().hex[:27]
            self.store.insert_profile(target, now, message_id, source_id)
        for id_type, value in ids:
            owner = self.store.profile_id_for(f"{id_type}:{value}")  # fresh: an earlier merge may move it
            if owner == target:
                continue
            if owner is None:
                self.store.insert_identity(id_type, value, target, source_id, now, message_id)
            elif self._can_merge(target, owner):
                self._merge_profiles(target, owner)
        return target

    def _merge_profiles(self, target: str, other: str) -> None:
        """Fold ``other`` into ``target``: ids and events move, the most recently written trait wins."""
        t, o = self.store.profile_row(target), self.store.profile_row(other)
        assert t is not None  # both own identities
        assert o is not None
        traits, meta = t["traits"], t["trait_meta"]
        o_traits, o_meta = o["traits"], o["trait_meta"]
        for key, value in o_traits.items():
            if key not in traits or o_meta.get(key, {}).get("clock", 0) > meta.get(key, {}).get("clock", 0):
                traits[key], meta[key] = value, o_meta.get(key, {})
        first = o if o["created_at"] < t["created_at"] else t
        last = o if o["updated_at"] > t["updated_at"] else t
        self.store.write_merged_profile(target, traits, meta, first, last)
        self.store.fold_profile(other, into=target)

    def _write_traits(self, profile_id: str, new: dict[str, Any], source_id: str, now: str) -> None:
        row = self.store.profile_row(profile_id)
        assert row is not None  # resolved before
        stamp = {"clock": self.store.tick(), "updated_at": now, "source_id": source_id}
        traits, meta = merge_traits(row["traits"], row["trait_meta"], new, stamp)
        self.store.write_traits(profile_id, traits, meta, now)
