"""Notices a new artifact version by the manifest file's identity (inode, size, mtime)."""

from __future__ import annotations

import os
from pathlib import Path


class ArtifactWatcher:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: tuple[int, int, int] | None = None

    def snapshot(self) -> tuple[int, int, int] | None:
        """Identity of the manifest now; pass it to ``mark`` once that version is loaded."""
        return self._identity()

    def mark(self, identity: tuple[int, int, int] | None) -> None:
        self._seen = identity

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.directory / "manifest.json")
        except OSError:
            # Mid-swap (the writer renames directories) or gone: nothing new to load yet.
            return None
        return stat.st_ino, stat.st_size, stat.st_mtime_ns

    def mark_current(self) -> None:
        self._seen = self._identity()

    def changed(self) -> bool:
        identity = self._identity()
        return identity is not None and identity != self._seen
