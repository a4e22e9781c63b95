"""SQLite state of the local Segment service: messages, profiles, identities and profile events.

Rules applied to each accepted message (a faithful but small subset of Segment Unify):

- **Dedupe**: a messageId already stored is not applied again; its ``duplicates`` counter goes up.
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
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

IDENTIFY, TRACK, PAGE, SCREEN, GROUP, ALIAS = "identify", "track", "page", "screen", "group", "alias"
MESSAGE_TYPES = (IDENTIFY, TRACK, PAGE, SCREEN, GROUP, ALIAS)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    type TEXT,
    user_id TEXT,
    anonymous_id TEXT,
    write_key_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    duplicates INTEGER NOT NULL DEFAULT 0,
    profile_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_type ON messages (type);
CREATE TABLE IF NOT EXISTS profiles (
    profile_id TEXT PRIMARY KEY,
    traits TEXT NOT NULL,
    trait_meta TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    first_message_id TEXT,
    first_source_id TEXT,
    last_message_id TEXT,
    last_source_id TEXT
);
CREATE TABLE IF NOT EXISTS identities (
    external_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    source_id TEXT,
    created_at TEXT NOT NULL,
    first_message_id TEXT
);
CREATE INDEX IF NOT EXISTS identities_profile ON identities (profile_id);
CREATE TABLE IF NOT EXISTS events (
    message_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    profile_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT,
    timestamp TEXT,
    source_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_profile ON events (profile_id, seq);
CREATE TABLE IF NOT EXISTS clock (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO clock (id, value) VALUES (1, 0);
"""


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


class SegmentStore:
    """Thread-safe SQLite store; one connection guarded by a lock (``:memory:`` by default)."""

    def __init__(self, db_path: str | None = None) -> None:
        self.db_path = db_path or ":memory:"
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if self.db_path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    # -- writes ---------------------------------------------------------------------------------------

    def ingest(self, msg: dict[str, Any], write_key_id: str, received_at: str) -> str:
        """Store one message and apply it; returns ``applied``, ``rejected`` or ``duplicate``."""
        message_id = str(msg["messageId"])
        with self._lock, self._transaction():
            row = self._conn.execute(
                "SELECT seq FROM messages WHERE message_id = ?", (message_id,)
            ).fetchone()
            if row is not None:
                self._conn.execute(
                    "UPDATE messages SET duplicates = duplicates + 1 WHERE message_id = ?", (message_id,)
                )
                return "duplicate"
            status, reason, profile_id = "applied", None, None
            try:
                profile_id = self._apply(msg, message_id, write_key_id, received_at)
            except RejectedMessage as e:
                status, reason = "rejected", str(e)
            user_id, anonymous_id = msg.get("userId"), msg.get("anonymousId")
            self._conn.execute(
                "INSERT INTO messages (message_id, type, user_id, anonymous_id, write_key_id, received_at,"
                " status, reason, profile_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    msg.get("type") if isinstance(msg.get("type"), str) else None,
                    None if user_id is None else str(user_id),
                    None if anonymous_id is None else str(anonymous_id),
                    write_key_id,
                    received_at,
                    status,
                    reason,
                    profile_id,
                    json.dumps(msg),
                ),
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
        with self._lock, self._transaction():
            profile_id = self._resolve([parsed], None, source_id, now)
            self._write_traits(profile_id, traits, source_id, now)
            return profile_id

    def reset(self) -> None:
        """Delete every message, profile, identity and event."""
        with self._lock, self._transaction():
            for table in ("messages", "profiles", "identities", "events"):
                self._conn.execute(f"DELETE FROM {table}")
            self._conn.execute("UPDATE clock SET value = 0")

    # -- reads ----------------------------------------------------------------------------------------

    def profile_id_for(self, external_id: str) -> str | None:
        """The profile an external id (``user_id:u1``) resolves to, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT profile_id FROM identities WHERE external_id = ?", (external_id,)
            ).fetchone()
        return None if row is None else str(row["profile_id"])

    def traits(self, profile_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A profile's traits and, per trait, ``{"clock", "updated_at", "source_id"}``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT traits, trait_meta FROM profiles WHERE profile_id = ?", (profile_id,)
            ).fetchone()
        if row is None:
            return {}, {}
        return json.loads(row["traits"]), json.loads(row["trait_meta"])

    def external_ids(self, profile_id: str) -> list[dict[str, Any]]:
        """A profile's external ids, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM identities WHERE profile_id = ? ORDER BY created_at, external_id",
                (profile_id,),
            ).fetchall()
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
            for r in rows
        ]

    def metadata(self, profile_id: str) -> dict[str, Any] | None:
        """Created/updated times and first/last message of a profile."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM profiles WHERE profile_id = ?", (profile_id,)).fetchone()
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
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM events WHERE profile_id = ? ORDER BY seq", (profile_id,)
            ).fetchall()
        ids = [
            {k: v for k, v in e.items() if k in ("collection", "type", "id", "encoding")}
            for e in self.external_ids(profile_id)
        ]
        out = []
        for r in rows:
            body = json.loads(r["body"])
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
        with self._lock:
            ids = [
                r["profile_id"]
                for r in self._conn.execute("SELECT profile_id FROM profiles ORDER BY created_at")
            ]
        out = []
        for profile_id in ids:
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

    def messages(
        self, type: str | None = None, status: str | None = None, with_meta: bool = False
    ) -> list[dict[str, Any]]:
        """Stored messages in arrival order; bodies only, or records with ``status``, ``reason``, ... ."""
        sql, args = "SELECT * FROM messages", []
        where = []
        if type is not None:
            where.append("type = ?")
            args.append(type)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq", args).fetchall()
        if not with_meta:
            return [json.loads(r["body"]) for r in rows]
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
                "body": json.loads(r["body"]),
            }
            for r in rows
        ]

    # -- internals ------------------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _tick(self) -> int:
        self._conn.execute("UPDATE clock SET value = value + 1 WHERE id = 1")
        return int(self._conn.execute("SELECT value FROM clock WHERE id = 1").fetchone()[0])

    def _apply(self, msg: dict[str, Any], message_id: str, source_id: str, received_at: str) -> str:
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
        elif (
            msg_type == IDENTIFY and msg.get("traits") is not None and not isinstance(msg.get("traits"), dict)
        ):
            raise RejectedMessage("identify traits must be an object")
        elif msg_type == GROUP and _identifier(msg, "groupId") is None:
            raise RejectedMessage("group requires groupId")
        elif msg_type == ALIAS:
            if user_id is None:
                raise RejectedMessage("alias requires userId")
            if _identifier(msg, "previousId") is None:
                raise RejectedMessage("alias requires previousId")

        ids: list[tuple[str, str]] = []
        if user_id is not None:
            ids.append(("user_id", user_id))
        if anonymous_id is not None:
            ids.append(("anonymous_id", anonymous_id))
        profile_id = self._resolve(ids, message_id, source_id, received_at)

        if msg_type == ALIAS:
            previous = str(_identifier(msg, "previousId"))
            for id_type in ("user_id", "anonymous_id"):
                other = self.profile_id_for(f"{id_type}:{previous}")
                if other is not None and other != profile_id:
                    self._merge_profiles(profile_id, other)
                    break
        if msg_type == IDENTIFY:
            self._write_traits(profile_id, msg.get("traits") or {}, source_id, received_at)
        self._conn.execute(
            "INSERT OR IGNORE INTO events"
            " (message_id, seq, profile_id, type, name, timestamp, source_id, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                self._tick(),
                profile_id,
                msg_type,
                name,
                msg.get("timestamp") or msg.get("originalTimestamp") or received_at,
                source_id,
                json.dumps(msg),
            ),
        )
        self._conn.execute(
            "UPDATE profiles SET updated_at = ?, last_message_id = ?, last_source_id = ?"
            " WHERE profile_id = ?",
            (received_at, message_id, source_id, profile_id),
        )
        return profile_id

    def _user_ids(self, profile_id: str) -> set[str]:
        rows = self._conn.execute(
            "SELECT value FROM identities WHERE profile_id = ? AND type = 'user_id'", (profile_id,)
        ).fetchall()
        return {r["value"] for r in rows}

    def _can_merge(self, a: str, b: str) -> bool:
        ua, ub = self._user_ids(a), self._user_ids(b)
        return not (ua and ub and ua != ub)

    def _resolve(self, ids: list[tuple[str, str]], message_id: str | None, source_id: str, now: str) -> str:
        """Pick (or create) the profile for ``ids``, merging and attaching as the rules allow."""
        owners = {f"{t}:{v}": self.profile_id_for(f"{t}:{v}") for t, v in ids}
        user_id = next((v for t, v in ids if t == "user_id"), None)
        target = owners.get(f"user_id:{user_id}") if user_id is not None else None
        if target is None:
            for owner in owners.values():
                if owner is not None and (user_id is None or self._user_ids(owner) <= {user_id}):
                    target = owner
                    break
        if target is None:
            target = "use_" + uuid.uuid4().hex[:27]
            self._conn.execute(
                "INSERT INTO profiles (profile_id, traits, trait_meta, created_at, updated_at,"
                " first_message_id, first_source_id, last_message_id, last_source_id)"
                " VALUES (?, '{}', '{}', ?, ?, ?, ?, ?, ?)",
                (target, now, now, message_id, source_id, message_id, source_id),
            )
        for id_type, value in ids:
            external_id = f"{id_type}:{value}"
            owner = self.profile_id_for(external_id)  # fresh: an earlier merge may have moved it
            if owner == target:
                continue
            if owner is None:
                self._conn.execute(
                    "INSERT INTO identities (external_id, type, value, profile_id, source_id, created_at,"
                    " first_message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (external_id, id_type, value, target, source_id, now, message_id),
                )
            elif self._can_merge(target, owner):
                self._merge_profiles(target, owner)
        return target

    def _merge_profiles(self, target: str, other: str) -> None:
        """Fold ``other`` into ``target``: ids and events move, the most recently written trait wins."""
        rows = {
            r["profile_id"]: r
            for r in self._conn.execute(
                "SELECT * FROM profiles WHERE profile_id IN (?, ?)", (target, other)
            ).fetchall()
        }
        t, o = rows[target], rows[other]
        traits, meta = json.loads(t["traits"]), json.loads(t["trait_meta"])
        o_traits, o_meta = json.loads(o["traits"]), json.loads(o["trait_meta"])
        for key, value in o_traits.items():
            if key not in traits or o_meta.get(key, {}).get("clock", 0) > meta.get(key, {}).get("clock", 0):
                traits[key], meta[key] = value, o_meta.get(key, {})
        first = o if o["created_at"] < t["created_at"] else t
        last = o if o["updated_at"] > t["updated_at"] else t
        self._conn.execute(
            "UPDATE profiles SET traits = ?, trait_meta = ?, created_at = ?, first_message_id = ?,"
            " first_source_id = ?, updated_at = ?, last_message_id = ?, last_source_id = ?"
            " WHERE profile_id = ?",
            (
                json.dumps(traits),
                json.dumps(meta),
                first["created_at"],
                first["first_message_id"],
                first["first_source_id"],
                last["updated_at"],
                last["last_message_id"],
                last["last_source_id"],
                target,
            ),
        )
        self._conn.execute("UPDATE identities SET profile_id = ? WHERE profile_id = ?", (target, other))
        self._conn.execute("UPDATE events SET profile_id = ? WHERE profile_id = ?", (target, other))
        self._conn.execute("UPDATE messages SET profile_id = ? WHERE profile_id = ?", (target, other))
        self._conn.execute("DELETE FROM profiles WHERE profile_id = ?", (other,))

    def _write_traits(self, profile_id: str, new: dict[str, Any], source_id: str, now: str) -> None:
        row = self._conn.execute(
            "SELECT traits, trait_meta FROM profiles WHERE profile_id = ?", (profile_id,)
        ).fetchone()
        stamp = {"clock": self._tick(), "updated_at": now, "source_id": source_id}
        traits, meta = merge_traits(json.loads(row["traits"]), json.loads(row["trait_meta"]), new, stamp)
        self._conn.execute(
            "UPDATE profiles SET traits = ?, trait_meta = ?, updated_at = ? WHERE profile_id = ?",
            (json.dumps(traits), json.dumps(meta), now, profile_id),
        )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
