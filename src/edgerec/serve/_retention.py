"""Event retention: the store keeps `event_retention_days` of events; older ones are deleted
oldest first, a chunk per statement."""

from __future__ import annotations

import asyncio
import time

from edgerec.serve._store import EventWriter

PRUNE_EVERY_S = 3600.0
# Events per DELETE: each holds the store's write lock, and appends wait behind it.
CHUNK = 5000
_DAY_S = 86_400.0


async def prune_old_events(writer: EventWriter, days: float) -> int:
    """Delete the events received more than ``days`` ago; returns how many went."""
    cutoff = time.time() - days * _DAY_S
    total = 0
    while True:
        deleted = await asyncio.wrap_future(writer.prune(cutoff, CHUNK))
        total += deleted
        if deleted < CHUNK:
            return total
