"""The SQLite history reader: its per-query time budget and what a request sees when it runs out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from edgerec.serve import App
from edgerec.serve._store import RECENT, Event, EventWriter, HistoryReader, initialise

# Enough virtual-machine steps that the progress handler runs many times.
SLOW_QUERY = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) "
    "SELECT count(*) FROM n"
)


def test_a_query_past_its_budget_is_interrupted_and_the_next_one_is_not(tmp_path: Path) -> None:
    database = tmp_path / "events.sqlite3"
    initialise(database)
    writer = EventWriter(database)
    writer.append([Event("u", "a", "view", 1.0), Event("u", "b", "view", 2.0)]).result()
    writer.close()
    reader = HistoryReader(database)
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        reader._connection(-1.0).execute(SLOW_QUERY).fetchall()
    assert reader._connection().execute(SLOW_QUERY).fetchone() == (200000,)
    assert reader.recent("u", 10)[0] == ["a", "b"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_failed_history_read_is_a_503_with_retry_after(
    app: App, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    def locked(user_id: str, limit: int) -> tuple[list[str], int]:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(app.reader, "recent", locked)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        response = await client.get("/v1/users/u1/recommendations")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "store_unavailable"


def test_history_reads_come_from_the_covering_index_also_in_an_older_store(
    tmp_path: Path,
) -> None:
    database = tmp_path / "events.sqlite3"
    older = sqlite3.connect(database)
    older.executescript(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, "
        "item_id TEXT NOT NULL, event_type TEXT NOT NULL, ts REAL NOT NULL, "
        "received_at REAL NOT NULL);"
        "CREATE INDEX events_by_user ON events (user_id, id);"
        "INSERT INTO events (user_id, item_id, event_type, ts, received_at) "
        "VALUES ('u', 'a', 'view', 1, 1);"
    )
    older.close()
    initialise(database)
    reader = HistoryReader(database)
    plan = reader._connection().execute(f"EXPLAIN QUERY PLAN {RECENT}", ("u", 50))
    assert "COVERING INDEX events_by_user_recent" in str(plan.fetchall())
    indexes = reader._connection().execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    assert {name for (name,) in indexes} == {"events_by_user_recent", "sqlite_autoindex_items_1"}
    assert reader.recent("u", 10) == (["a"], 1)
