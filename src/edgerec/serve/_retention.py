"""Event retention: the store keeps `event_retention_days` of events; older ones are deleted
oldest first, a chunk per statement."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

from edgerec.serve._store import EventWriter

logger = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0
# Events per DELETE: each holds the store's write lock, and appends wait behind it.
CHUNK = 5000
_DAY_S = 86_400.0


async def prune_old_events(writer: EventWriter, days: float) -> int:
    """Delete the events received more than ``days`` ago; returns how many went. When any
    went, the node's workers forget their cached histories (a flush action, as the admin route
    records): a cached history could still hold them."""
    try:
        deleted = await _delete_older(writer, time.time() - days * _DAY_S)
    except sqlite3.Error as exc:  # locked past the busy timeout, I/O error: next hour
        logger.warning("event retention: pruning failed, retried in an hour: %s", exc)
        return 0
    if deleted:
        logger.info("event retention: %d event(s) older than %g days deleted", deleted, days)
        try:
            await asyncio.wrap_future(writer.record_action("flush"))
        except sqlite3.Error as exc:
            logger.warning(
                "event retention: the workers' cached histories may still hold deleted"
                " events (the flush was not recorded: %s); POST /v1/admin/cache/flush",
                exc,
            )
    return deleted


async def _delete_older(writer: EventWriter, cutoff: float) -> int:
    total = 0
    while True:
        deleted = await asyncio.wrap_future(writer.prune(cutoff, CHUNK))
        total += deleted
        if deleted < CHUNK:
            return total
