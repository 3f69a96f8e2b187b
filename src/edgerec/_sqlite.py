"""SQLite file URIs, shared by the service's store and the reader of it."""

from __future__ import annotations

from pathlib import Path


def sqlite_uri(path: Path, mode: str) -> str:
    """A ``file:`` URI for ``path`` opened in ``mode`` (``ro``, ``rw``, ``rwc``).

    ``as_uri`` percent-encodes what a URI would misread in a path ("?", "#", "%"): a
    directory named so would otherwise open another file.
    """
    return f"{path.resolve().as_uri()}?mode={mode}"
