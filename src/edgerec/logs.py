"""Logging set-up for entry points only; library modules just call ``getLogger(__name__)``."""

from __future__ import annotations

import logging
import os


def configure(verbose: bool = False) -> None:
    level = "DEBUG" if verbose else os.environ.get("EDGEREC_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
