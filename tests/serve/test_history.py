"""The per-worker history cache: what it answers must be what SQLite answers, at every step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgerec.serve import _history
from edgerec.serve._history import HistoryCache
from edgerec.serve._store import Event, EventWriter, HistoryReader, initialise


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[HistoryReader, EventWriter]]:
    database = tmp_path / "events.sqlite3"
    initialise(database)
    writer = EventWriter(database)
    yield HistoryReader(database), writer
    writer.close()


def click(writer: EventWriter, *pairs: tuple[str, str]) -> None:
    """Commit (user, item) events through another connection, as another worker would."""
    writer.append([Event(user, item, "view", 1.0) for user, item in pairs]).result()


def agrees(cache: HistoryCache, reader: HistoryReader, user: str, limit: int) -> None:
    items, newest = cache.recent(user)
    assert (list(items), newest) == reader.recent(user, limit)


def test_cached_histories_follow_every_new_event(
    store: tuple[HistoryReader, EventWriter],
) -> None:
    reader, writer = store
    click(writer, ("ann", "a"), ("bob", "b"))
    cache = HistoryCache(reader, limit=3, users=10, interval_s=0.0)
    for user in ("ann", "bob", "cy"):  # cy has no events yet: cached as empty
        agrees(cache, reader, user, 3)
    click(writer, ("ann", "c"), ("cy", "d"), ("ann", "e"), ("ann", "f"))
    for user in ("ann", "bob", "cy"):
        agrees(cache, reader, user, 3)  # ann's oldest item fell out of the last 3
    assert cache.recent("ann")[0] == ("c", "e", "f")


def test_an_entry_read_after_an_event_does_not_count_it_twice(
    store: tuple[HistoryReader, EventWriter],
) -> None:
    reader, writer = store
    cache = HistoryCache(reader, limit=5, users=10, interval_s=0.0)
    agrees(cache, reader, "ann", 5)  # the cache starts following here
    click(writer, ("bob", "x"))
    # bob is read after his event committed, then the same event arrives in the tail.
    cache._next_check = float("inf")
    agrees(cache, reader, "bob", 5)
    cache._next_check = 0.0
    agrees(cache, reader, "bob", 5)
    assert cache.recent("bob")[0] == ("x",)


def test_another_workers_event_waits_for_the_interval_and_own_writes_do_not(
    store: tuple[HistoryReader, EventWriter],
) -> None:
    reader, writer = store
    cache = HistoryCache(reader, limit=5, users=10, interval_s=3600.0)
    assert cache.recent("ann") == ((), 0)
    click(writer, ("ann", "a"))
    assert cache.recent("ann") == ((), 0)  # within the interval: not checked yet
    cache.wrote()  # what the events route calls after its own commit
    assert cache.recent("ann")[0] == ("a",)


def test_a_burst_of_events_larger_than_a_tail_resets_the_cache(
    store: tuple[HistoryReader, EventWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = store
    monkeypatch.setattr(_history, "_TAIL_ROWS", 2)
    cache = HistoryCache(reader, limit=5, users=10, interval_s=0.0)
    agrees(cache, reader, "ann", 5)
    click(writer, ("ann", "a"), ("ann", "b"), ("bob", "c"))
    assert len(cache._entries) == 1
    agrees(cache, reader, "bob", 5)
    assert list(cache._entries) == ["bob"]  # ann's stale entry was dropped, not patched
    agrees(cache, reader, "ann", 5)
    click(writer, ("ann", "d"))
    agrees(cache, reader, "ann", 5)


def test_the_cache_holds_at_most_its_users_and_zero_turns_it_off(
    store: tuple[HistoryReader, EventWriter],
) -> None:
    reader, writer = store
    click(writer, ("ann", "a"), ("bob", "b"), ("cy", "c"))
    cache = HistoryCache(reader, limit=5, users=2, interval_s=0.0)
    for user in ("ann", "bob", "ann", "cy"):
        agrees(cache, reader, user, 5)
    assert list(cache._entries) == ["ann", "cy"]  # bob was the least recently used
    off = HistoryCache(reader, limit=5, users=0)
    agrees(off, reader, "ann", 5)
    assert not off._entries
    cache.clear()
    assert not cache._entries
    agrees(cache, reader, "bob", 5)


@pytest.mark.parametrize("users", [10, 0])
def test_a_flush_committed_anywhere_empties_the_cache_and_tells_the_worker(
    store: tuple[HistoryReader, EventWriter], users: int
) -> None:
    reader, writer = store
    click(writer, ("ann", "a"))
    flushes: list[int] = []
    cache = HistoryCache(
        reader, limit=3, users=users, interval_s=0.0, on_flush=lambda: flushes.append(1)
    )
    cache.recent("ann")
    click(writer, ("bob", "b"))
    cache.recent("ann")
    assert flushes == []  # new events are not a flush
    writer.record_action("flush").result()  # through another connection, as another worker's
    cache.recent("ann")
    assert flushes == [1]
    cache.recent("ann")
    assert flushes == [1]  # once per flush
