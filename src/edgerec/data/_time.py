"""Timestamps as epoch seconds. A time without a zone is UTC: read as the local time of
whichever machine parses it, the same event would get different times on differently set
machines (a laptop, a UTC pod)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_seconds(moment: datetime) -> float:
    """Epoch seconds of ``moment``, a naive one taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso_seconds(text: str) -> float:
    """Epoch seconds of ISO 8601 ``text`` ("Z" or an offset for the zone; none: UTC).
    Raises ValueError for text that is not ISO 8601."""
    return utc_seconds(datetime.fromisoformat(text.replace("Z", "+00:00")))
