"""Recent histories kept in each worker, following the event store's appends.

A history read from SQLite costs ~14 us of a request's path; a hit here costs a dictionary
lookup. Entries stay exact because events are append-only and their ids grow in commit order
(writers hold SQLite's write lock in turn): when the store changes (``PRAGMA data_version``,
which sees commits from any process), the events after the last one seen are read once and
appended to the users they belong to. A worker checks for changes at most once per
``interval_s``, and at once after its own writes: a click posted to another worker shows here
within that interval (1 ms by default; the service promises 100 ms).

Events are deleted only by retention (`_retention`), which then records a flush. Deleting
some by hand needs a cache flush (``POST /v1/admin/cache/flush``) or a restart to reach the
workers. A flush is a row of the store's ``admin_actions``: each worker sees its commit as it
sees new events, and forgets.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from edgerec.serve._store import HistoryReader

# More new events than this in one check: forget everything rather than replay them all.
_TAIL_ROWS = 10_000


class HistoryCache:
    """``recent`` of `HistoryReader` for up to ``users`` shoppers, kept in step with the store.

    Used from one thread (the event loop's): ``data_version`` is per connection, and the
    reader's connection is per thread.
    """

    def __init__(
        self,
        reader: HistoryReader,
        limit: int,
        users: int,
        interval_s: float = 0.001,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        """``on_flush``: called when a flush is committed (by any worker), after this cache
        forgot its histories, for the worker to forget what it derived from them."""
        self._reader = reader
        self._on_flush = on_flush
        self._flushed = 0  # id of the last flush seen
        self._limit = limit
        self._users = users
        self._interval_s = interval_s
        # user -> (item ids oldest first, newest event id); most recently used last. Tuples:
        # an answer in flight keeps the history it was asked with.
        self._entries: OrderedDict[str, tuple[tuple[str, ...], int]] = OrderedDict()
        self._cursor: int | None = None  # id of the last event applied
        self._version: int | None = None
        self._next_check = 0.0

    def recent(self, user_id: str) -> tuple[Sequence[str], int]:
        """(item ids oldest first, id of the newest event or 0), as `HistoryReader.recent`."""
        self._follow()  # without kept histories too: a flush must still reach the worker
        if self._users == 0:
            return self._reader.recent(user_id, self._limit)
        entry = self._entries.get(user_id)
        if entry is not None:
            self._entries.move_to_end(user_id)
            return entry
        items, newest = self._reader.recent(user_id, self._limit)
        # Interned: the same item ids recur across users (a fraction of the memory).
        entry = self._entries[user_id] = (tuple(sys.intern(item) for item in items), newest)
        if len(self._entries) > self._users:
            self._entries.popitem(last=False)
        return entry

    def wrote(self) -> None:
        """This worker committed events: the next read checks the store whatever the time."""
        self._next_check = 0.0

    def clear(self) -> None:
        self._entries.clear()
        self._cursor = None

    def _follow(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self._interval_s
        version = self._reader.data_version()
        if self._cursor is None:
            # Start from the store as it is now: entries are read after this point.
            self._cursor, self._version = self._reader.last_event_id(), version
            self._flushed = self._reader.last_action_id("flush")
            return
        if version == self._version:
            return
        # Read after the version: every commit it counts is in these rows.
        flushed = self._reader.last_action_id("flush")
        if flushed != self._flushed:
            self._entries.clear()
            self._cursor, self._flushed = self._reader.last_event_id(), flushed
            if self._on_flush is not None:
                self._on_flush()
            self._version = version
            return
        rows = self._reader.events_after(self._cursor, _TAIL_ROWS + 1) if self._users else []
        if len(rows) > _TAIL_ROWS:
            self._entries.clear()
            self._cursor = self._reader.last_event_id()
        else:
            for event_id, user_id, item_id in rows:
                entry = self._entries.get(user_id)
                # An entry read after this event was committed already holds it.
                if entry is not None and event_id > entry[1]:
                    items = (*entry[0], sys.intern(item_id))[-self._limit :]
                    self._entries[user_id] = (items, event_id)
            if rows:
                self._cursor = rows[-1][0]
        # Only now: had the read failed, the next check would read these events again.
        self._version = version
