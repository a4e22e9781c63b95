"""SQLite state of the local Segment service: messages, profiles, identities, profile events and a clock.

Storage only: reads and writes of rows, JSON columns decoded. What a message does to profiles (Segment's
rules) is in ``backend``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
CREATE TABLE IF NOT EXISTS arrivals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    type TEXT,
    user_id TEXT,
    received_at TEXT NOT NULL,
    outcome TEXT NOT NULL
);
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

_TABLES = ("messages", "arrivals", "profiles", "identities", "events")
_JSON_COLUMNS = ("traits", "trait_meta", "body")


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    """A row as a dict, its JSON columns parsed."""
    values = dict(row)
    for column in _JSON_COLUMNS:
        if column in values:
            values[column] = json.loads(values[column])
    return values


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

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock, inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [_decoded(row) for row in self._conn.execute(sql, params).fetchall()]

    def _execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> None:
        with self._lock:
            self._conn.execute(sql, params)

    def reset(self) -> None:
        """Delete every message, profile, identity and event; the clock restarts."""
        with self.transaction():
            for table in _TABLES:
                self._conn.execute(f"DELETE FROM {table}")
            self._conn.execute("UPDATE clock SET value = 0")

    def tick(self) -> int:
        """The next value of the store's logical clock (orders trait writes and events)."""
        with self._lock:
            self._conn.execute("UPDATE clock SET value = value + 1 WHERE id = 1")
            return int(self._conn.execute("SELECT value FROM clock WHERE id = 1").fetchone()[0])

    # -- messages -------------------------------------------------------------------------------------

    def has_message(self, message_id: str) -> bool:
        """Whether a message with this id is stored."""
        return bool(self._rows("SELECT seq FROM messages WHERE message_id = ?", (message_id,)))

    def count_duplicate(self, message_id: str) -> None:
        """One more delivery of a stored message."""
        self._execute("UPDATE messages SET duplicates = duplicates + 1 WHERE message_id = ?", (message_id,))

    def insert_message(self, row: dict[str, Any]) -> None:
        """Store a message: ``row`` has the columns of ``messages`` but ``seq`` and ``duplicates``."""
        self._execute(
            "INSERT INTO messages (message_id, type, user_id, anonymous_id, write_key_id, received_at,"
            " status, reason, profile_id, body) VALUES (:message_id, :type, :user_id, :anonymous_id,"
            " :write_key_id, :received_at, :status, :reason, :profile_id, :body)",
            {**row, "body": json.dumps(row["body"])},
        )

    def insert_arrival(self, row: dict[str, Any]) -> None:
        """Log one arrival of a message, before its messageId dedupe: ``row`` has the columns of
        ``arrivals`` but ``seq``; ``outcome`` is what ingesting it did (applied, rejected, duplicate)."""
        self._execute(
            "INSERT INTO arrivals (message_id, type, user_id, received_at, outcome)"
            " VALUES (:message_id, :type, :user_id, :received_at, :outcome)",
            row,
        )

    def arrival_rows(self, message_type: str | None = None) -> list[dict[str, Any]]:
        """Every arrival in order, of one ``message_type`` or all."""
        if message_type is None:
            return self._rows("SELECT * FROM arrivals ORDER BY seq")
        return self._rows("SELECT * FROM arrivals WHERE type = ? ORDER BY seq", (message_type,))

    def message_rows(
        self, message_type: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored messages in arrival order, filtered by ``message_type`` and ``status``."""
        sql, args = "SELECT * FROM messages", []
        where = []
        if message_type is not None:
            where.append("type = ?")
            args.append(message_type)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._rows(sql + " ORDER BY seq", args)

    # -- profiles -------------------------------------------------------------------------------------

    def insert_profile(self, profile_id: str, now: str, message_id: str | None, source_id: str) -> None:
        """A new profile with no traits, first and last written by ``message_id``."""
        self._execute(
            "INSERT INTO profiles (profile_id, traits, trait_meta, created_at, updated_at,"
            " first_message_id, first_source_id, last_message_id, last_source_id)"
            " VALUES (?, '{}', '{}', ?, ?, ?, ?, ?, ?)",
            (profile_id, now, now, message_id, source_id, message_id, source_id),
        )

    def profile_row(self, profile_id: str) -> dict[str, Any] | None:
        """A profile's row (traits and trait_meta decoded), or None."""
        rows = self._rows("SELECT * FROM profiles WHERE profile_id = ?", (profile_id,))
        return rows[0] if rows else None

    def profile_ids(self) -> list[str]:
        """Every profile id, oldest profile first."""
        return [
            row["profile_id"] for row in self._rows("SELECT profile_id FROM profiles ORDER BY created_at")
        ]

    def write_traits(self, profile_id: str, traits: dict[str, Any], meta: dict[str, Any], now: str) -> None:
        """Replace a profile's traits and their metadata."""
        self._execute(
            "UPDATE profiles SET traits = ?, trait_meta = ?, updated_at = ? WHERE profile_id = ?",
            (json.dumps(traits), json.dumps(meta), now, profile_id),
        )

    def record_last_message(self, profile_id: str, received_at: str, message_id: str, source_id: str) -> None:
        """The message that last changed the profile."""
        self._execute(
            "UPDATE profiles SET updated_at = ?, last_message_id = ?, last_source_id = ?"
            " WHERE profile_id = ?",
            (received_at, message_id, source_id, profile_id),
        )

    def write_merged_profile(
        self,
        profile_id: str,
        traits: dict[str, Any],
        meta: dict[str, Any],
        first: dict[str, Any],
        last: dict[str, Any],
    ) -> None:
        """Traits of a merged profile; its first message from the ``first`` row, its last from ``last``."""
        self._execute(
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
                profile_id,
            ),
        )

    def fold_profile(self, other: str, into: str) -> None:
        """Move the identities, events and messages of profile ``other`` to ``into``; delete ``other``."""
        with self._lock:
            for table in ("identities", "events", "messages"):
                self._conn.execute(f"UPDATE {table} SET profile_id = ? WHERE profile_id = ?", (into, other))
            self._conn.execute("DELETE FROM profiles WHERE profile_id = ?", (other,))

    # -- identities -----------------------------------------------------------------------------------

    def profile_id_for(self, external_id: str) -> str | None:
        """The profile an external id (``user_id:u1``) belongs to, or None."""
        rows = self._rows("SELECT profile_id FROM identities WHERE external_id = ?", (external_id,))
        return str(rows[0]["profile_id"]) if rows else None

    def insert_identity(
        self, id_type: str, value: str, profile_id: str, source_id: str, now: str, message_id: str | None
    ) -> None:
        """Attach the external id ``id_type:value`` to a profile."""
        self._execute(
            "INSERT INTO identities (external_id, type, value, profile_id, source_id, created_at,"
            " first_message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (f"{id_type}:{value}", id_type, value, profile_id, source_id, now, message_id),
        )

    def identity_rows(self, profile_id: str) -> list[dict[str, Any]]:
        """A profile's identities, oldest first."""
        return self._rows(
            "SELECT * FROM identities WHERE profile_id = ? ORDER BY created_at, external_id", (profile_id,)
        )

    def user_ids(self, profile_id: str) -> set[str]:
        """The user_id values of a profile's identities."""
        rows = self._rows(
            "SELECT value FROM identities WHERE profile_id = ? AND type = 'user_id'", (profile_id,)
        )
        return {row["value"] for row in rows}

    # -- profile events -------------------------------------------------------------------------------

    def insert_event(self, row: dict[str, Any]) -> None:
        """Add a message to a profile's timeline (once): ``row`` has the columns of ``events``."""
        self._execute(
            "INSERT OR IGNORE INTO events"
            " (message_id, seq, profile_id, type, name, timestamp, source_id, body)"
            " VALUES (:message_id, :seq, :profile_id, :type, :name, :timestamp, :source_id, :body)",
            {**row, "body": json.dumps(row["body"])},
        )

    def event_rows(self, profile_id: str) -> list[dict[str, Any]]:
        """A profile's timeline, oldest first."""
        return self._rows("SELECT * FROM events WHERE profile_id = ? ORDER BY seq", (profile_id,))
