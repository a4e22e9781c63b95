"""What happened to each message of a local run, kept in SQLite so that ``trace`` works after the run."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, MutableSet
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    line INTEGER PRIMARY KEY,
    message_id TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    cause TEXT,
    items_tracked INTEGER NOT NULL DEFAULT 0,
    synced INTEGER NOT NULL DEFAULT 0,
    duplicate INTEGER NOT NULL DEFAULT 0,
    execution_name TEXT
);
CREATE TABLE IF NOT EXISTS executions (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    message_id TEXT,
    status TEXT NOT NULL,
    start_date TEXT,
    stop_date TEXT,
    input TEXT,
    output TEXT,
    error TEXT,
    cause TEXT,
    history TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_message ON executions (message_id);
CREATE TABLE IF NOT EXISTS forgotten_executions (arn TEXT PRIMARY KEY);
"""


@dataclass
class Outcome:
    """One input line: what became of it (the ``replay --json`` record)."""

    line: int
    messageId: str | None  # noqa: N815 - the JSON field's name
    outcome: str
    reason: str | None = None
    cause: str | None = None
    itemsTracked: int = 0  # noqa: N815
    synced: bool = False
    duplicate: bool = False
    executionName: str | None = None  # noqa: N815

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExecutionRecord:
    name: str
    arn: str
    message_id: str | None
    status: str
    input: Any
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(default_factory=list)
    start_date: str | None = None
    stop_date: str | None = None

    @classmethod
    def from_description(
        cls, arn: str, description: dict[str, Any], history: list[dict[str, Any]] | None = None
    ) -> ExecutionRecord:
        """The record of a finished execution from its DescribeExecution answer (input/output parsed)."""
        return cls(
            name=description["name"],
            arn=arn,
            message_id=(description.get("input") or {}).get("messageId"),
            status=description["status"],
            input=description.get("input"),
            output=description.get("output"),
            error=description.get("error"),
            cause=description.get("cause"),
            history=history or [],
            start_date=str(description.get("startDate")),
            stop_date=str(description.get("stopDate")),
        )


class RunStore:
    """SQLite file of outcomes and execution histories (``runs.sqlite`` in the data folder)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        # one commit per finished execution: the write-ahead log makes a commit an append, not an fsync
        # of the whole file (https://www.sqlite.org/wal.html); NORMAL is durable across a crash of this
        # process, which is what a local run needs
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        #: ARNs of the executions the engine has forgotten (LocalEngine.forgotten), kept here, not in memory
        self.forgotten = _ArnSet(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(self, sql: str, values: tuple[Any, ...]) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, values).fetchone()
        return row

    def _write(self, sql: str, values: tuple[Any, ...]) -> None:
        with self._lock, self._db:
            self._db.execute(sql, values)

    def save_outcomes(self, outcomes: Iterable[Outcome]) -> None:
        rows = [
            (
                o.line,
                o.messageId,
                o.outcome,
                o.reason,
                o.cause,
                o.itemsTracked,
                o.synced,
                o.duplicate,
                o.executionName,
            )
            for o in outcomes
        ]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO outcomes VALUES (?,?,?,?,?,?,?,?,?)", rows)

    def save_execution(self, record: ExecutionRecord) -> None:
        row = (
            record.name,
            record.arn,
            record.message_id,
            record.status,
            record.start_date,
            record.stop_date,
            json.dumps(record.input),
            json.dumps(record.output),
            record.error,
            record.cause,
            json.dumps(record.history, default=str),
        )
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO executions VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)

    def outcomes(self) -> list[Outcome]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM outcomes ORDER BY line").fetchall()
        return [
            Outcome(
                r["line"],
                r["message_id"],
                r["outcome"],
                r["reason"],
                r["cause"],
                r["items_tracked"],
                bool(r["synced"]),
                bool(r["duplicate"]),
                r["execution_name"],
            )
            for r in rows
        ]

    def execution(self, key: str) -> ExecutionRecord | None:
        """An execution by name, ARN or Segment messageId."""
        return self._execution("name = ? OR arn = ? OR message_id = ?", (key, key, key))

    def execution_named(self, name: str) -> ExecutionRecord | None:
        """An execution by its name (the table's key: no scan)."""
        return self._execution("name = ?", (name,))

    def _execution(self, where: str, values: tuple[str, ...]) -> ExecutionRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT * FROM executions WHERE {where} LIMIT 1", values).fetchone()
        if row is None:
            return None
        return ExecutionRecord(
            name=row["name"],
            arn=row["arn"],
            message_id=row["message_id"],
            status=row["status"],
            input=json.loads(row["input"]),
            output=json.loads(row["output"]),
            error=row["error"],
            cause=row["cause"],
            history=json.loads(row["history"]),
            start_date=row["start_date"],
            stop_date=row["stop_date"],
        )


class _ArnSet(MutableSet[str]):
    """A set of execution ARNs in the run store's ``forgotten_executions`` table."""

    def __init__(self, store: RunStore) -> None:
        self._store = store

    def __contains__(self, arn: object) -> bool:
        return self._store._query("SELECT 1 FROM forgotten_executions WHERE arn = ?", (arn,)) is not None

    def __iter__(self) -> Iterator[str]:
        with self._store._lock:
            rows = self._store._db.execute("SELECT arn FROM forgotten_executions ORDER BY arn").fetchall()
        return iter([row["arn"] for row in rows])

    def __len__(self) -> int:
        row = self._store._query("SELECT COUNT(*) AS n FROM forgotten_executions", ())
        return int(row["n"]) if row is not None else 0

    def add(self, arn: str) -> None:
        self._store._write("INSERT OR IGNORE INTO forgotten_executions VALUES (?)", (arn,))

    def discard(self, arn: str) -> None:
        self._store._write("DELETE FROM forgotten_executions WHERE arn = ?", (arn,))

    def clear(self) -> None:
        self._store._write("DELETE FROM forgotten_executions", ())
