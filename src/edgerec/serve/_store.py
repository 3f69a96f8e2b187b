"""SQLite event store: the durable record of events and each user's recent history.

Every worker process opens its own connections. One thread per process owns the write
connection (``EventWriter``); reads use a separate connection on the request path. WAL mode lets
readers in any process see a commit as soon as it returns, which is how an event written by
worker A reaches worker B's next recommendation.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edgerec._sqlite import sqlite_uri

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ts REAL NOT NULL,
    received_at REAL NOT NULL
);
-- Covering: a user's recent item ids come from the index alone, without one table lookup
-- per event (7.3 instead of 9.3 us per history read). Replaces the older (user_id, id) index
-- in stores created before it.
CREATE INDEX IF NOT EXISTS events_by_user_recent ON events (user_id, id, item_id);
DROP INDEX IF EXISTS events_by_user;
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL
);
-- One row per admin action ('flush', 'reload'): the request reached one worker; the others
-- of the node see the commit and follow.
CREATE TABLE IF NOT EXISTS admin_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    at REAL NOT NULL
);
"""
RECENT = "SELECT item_id, id FROM events WHERE user_id = ? ORDER BY id DESC LIMIT ?"
# Readers give up rather than stall a request behind a long query (datasette's sqlite_timelimit).
_READ_BUDGET_S = 0.05


@dataclass(frozen=True)
class Event:
    user_id: str
    item_id: str
    event_type: str
    timestamp: float


# How long a statement waits for another connection's lock before it fails.
BUSY_TIMEOUT_S = 5.0


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    connection = sqlite3.connect(
        sqlite_uri(path, "ro" if readonly else "rwc"),
        uri=True,
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,
    )
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return connection


def initialise(path: Path) -> None:
    """Create the database file and schema (idempotent, safe from several processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = _connect(path, readonly=False)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.executescript(SCHEMA)
    finally:
        connection.close()


class EventWriter:
    """Appends events from one dedicated thread; ``append`` returns once they are durable."""

    def __init__(self, path: Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = _connect(self._path, readonly=False)
            # FULL: a 2xx promises the events survive power loss, not only a process crash.
            connection.execute("PRAGMA synchronous = FULL")
            self._connection = connection
        return self._connection

    def _write(self, events: Sequence[Event]) -> int:
        connection = self._open()
        now = time.time()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(
                "INSERT INTO events (user_id, item_id, event_type, ts, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(e.user_id, e.item_id, e.event_type, e.timestamp, now) for e in events],
            )
            connection.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk, say): then there is nothing to
            # roll back, and the error to report is the first one.
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise
        return len(events)

    def append(self, events: Sequence[Event]) -> Future[int]:
        return self._executor.submit(self._write, events)

    def record_action(self, action: str) -> Future[int]:
        """Commit an admin action for every worker to see (`HistoryReader.last_action_id`);
        the future holds its id."""

        def write() -> int:
            cursor = self._open().execute(
                "INSERT INTO admin_actions (action, at) VALUES (?, ?)", (action, time.time())
            )
            return int(cursor.lastrowid or 0)

        return self._executor.submit(write)

    def prune(self, cutoff: float, limit: int) -> Future[int]:
        """Delete up to ``limit`` of the oldest events, those received before ``cutoff``
        (epoch seconds); the future holds how many. One short statement: appends queue behind
        it only briefly, so a large backlog goes a chunk at a time."""

        def delete() -> int:
            cursor = self._open().execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)"
                " AND received_at < ?",
                (limit, cutoff),
            )
            return int(cursor.rowcount)

        return self._executor.submit(delete)

    def upsert_items(self, rows: Iterable[tuple[str, str, str]]) -> None:
        def write() -> None:
            connection = self._open()
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO items (item_id, name, category) VALUES (?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET name = excluded.name, "
                "category = excluded.category",
                list(rows),
            )
            connection.execute("COMMIT")

        self._executor.submit(write).result()

    def close(self) -> None:
        def shut() -> None:
            if self._connection is not None:
                self._connection.close()

        self._executor.submit(shut).result()
        self._executor.shutdown()


class _Budget:
    """The deadline of a connection's current query, read by its progress handler."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = float("inf")

    def exceeded(self) -> int:
        return int(time.monotonic() > self.deadline)


class HistoryReader:
    """Reads recent history per user on the request path (read-only connection per thread)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()

    def _connection(self, budget_s: float = float("inf")) -> sqlite3.Connection:
        """This thread's connection, its query budget set to ``budget_s`` from now."""
        opened: tuple[sqlite3.Connection, _Budget] | None = getattr(self._local, "opened", None)
        if opened is None:
            budget = _Budget()
            connection = _connect(self._path, readonly=True)
            # One handler for the connection's life; each query only moves the deadline.
            connection.set_progress_handler(budget.exceeded, 1000)
            opened = self._local.opened = (connection, budget)
        opened[1].deadline = time.monotonic() + budget_s
        return opened[0]

    def recent(self, user_id: str, limit: int) -> tuple[list[str], int]:
        """(item ids oldest first, id of the newest event or 0 when the user has none)."""
        rows = self._connection(_READ_BUDGET_S).execute(RECENT, (user_id, limit)).fetchall()
        if not rows:
            return [], 0
        return [row[0] for row in reversed(rows)], int(rows[0][1])

    def data_version(self) -> int:
        """Changes whenever another connection, in any process, commits to the store."""
        return int(self._connection(_READ_BUDGET_S).execute("PRAGMA data_version").fetchone()[0])

    def last_event_id(self) -> int:
        row = self._connection(_READ_BUDGET_S).execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    def last_action_id(self, action: str) -> int:
        """Id of the latest admin ``action`` recorded, 0 if none."""
        row = (
            self._connection(_READ_BUDGET_S)
            .execute("SELECT max(id) FROM admin_actions WHERE action = ?", (action,))
            .fetchone()
        )
        return int(row[0] or 0)

    def events_after(self, event_id: int, limit: int) -> list[tuple[int, str, str]]:
        """(id, user_id, item_id) of the first ``limit`` events after ``event_id``, in order."""
        rows = self._connection(_READ_BUDGET_S).execute(
            "SELECT id, user_id, item_id FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (event_id, limit),
        )
        return [(int(i), str(u), str(item)) for i, u, item in rows]

    def catalog(self) -> dict[str, tuple[str, str]]:
        rows = self._connection().execute("SELECT item_id, name, category FROM items")
        return {item: (name, category) for item, name, category in rows}

    def ping(self) -> bool:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True
