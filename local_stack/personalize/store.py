"""SQLite state of the local Personalize: every request, event, item, user and recommendation served."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    operation TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT,
    status INTEGER,
    error_code TEXT,
    error_message TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER REFERENCES requests(id),
    tracking_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    user_id TEXT,
    event_id TEXT,
    event_type TEXT NOT NULL,
    event_value REAL,
    item_id TEXT,
    sent_at REAL NOT NULL,
    properties TEXT,
    recommendation_id TEXT,
    impression TEXT,
    metric_attribution_source TEXT,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user ON events(user_id);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id);
CREATE INDEX IF NOT EXISTS events_event_id ON events(event_id);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    dataset_arn TEXT,
    properties TEXT,
    metadata TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    dataset_arn TEXT,
    properties TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS recommendations (
    recommendation_id TEXT PRIMARY KEY,
    request_id INTEGER REFERENCES requests(id),
    operation TEXT NOT NULL,
    campaign_arn TEXT,
    recommender_arn TEXT,
    user_id TEXT,
    item_id TEXT,
    filter_arn TEXT,
    filter_values TEXT,
    num_results INTEGER,
    item_list TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class Store:
    """One SQLite connection shared by the server's threads behind a lock."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = ":memory:" if path is None else os.fspath(path)
        if self.path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, inside BEGIN ... COMMIT (ROLLBACK on error), holding the lock."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, params).fetchall()]

    def log_request(self, method: str, path: str, body: bytes, operation: str | None) -> int:
        """Record a request as it arrives; its id."""
        text = body.decode("utf-8", errors="replace") if body else None
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO requests (received_at, operation, method, path, body) VALUES (?, ?, ?, ?, ?)",
                (time.time(), operation, method, path, text),
            )
            return int(cursor.lastrowid or 0)

    def finish_request(
        self, request_id: int, status: int, error_code: str | None, message: str | None
    ) -> None:
        """Record how a request was answered."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE requests SET status = ?, error_code = ?, error_message = ? WHERE id = ?",
                (status, error_code, message, request_id),
            )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def dumps(value: Any) -> str | None:
    """Compact JSON, or None for None."""
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)
