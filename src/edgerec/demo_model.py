"""Builds the demo shop's artifact on first run (an entry-point helper: data + train)."""

from __future__ import annotations

import logging
from pathlib import Path

from edgerec.artifact import read_manifest
from edgerec.demo import build_demo
from edgerec.errors import ArtifactError

logger = logging.getLogger(__name__)


def ensure_demo(directory: Path) -> tuple[Path, Path]:
    """(artifact, catalog) of the demo shop, training a small model the first time.

    With the ``train`` extra it trains the hybrid model (about a minute on 2 cores); without
    PyTorch it trains the numpy-only transitions model, so a serving-only install still starts.
    """
    from edgerec.data import build_sequences, read_interactions
    from edgerec.train import SASRecConfig, train_model

    artifact = directory / "artifact"
    catalog = directory / "catalog.csv"
    if catalog.exists() and _readable(artifact):
        return artifact, catalog
    catalog, events = build_demo(directory)
    try:
        import torch  # noqa: F401

        model = "hybrid"
    except ImportError:
        model = "transitions"
    logger.info(
        "first run: building the demo shop and training its %s model in %s (about a minute)",
        model,
        artifact,
    )
    data = build_sequences(read_interactions(events))
    config = SASRecConfig(epochs=20, max_minutes=1.0, patience=3, batch_size=256)
    train_model(data, model, artifact, sasrec=config, progress=False)
    return artifact, catalog


def _readable(artifact: Path) -> bool:
    """False when missing or written in an older artifact format (then it is rebuilt)."""
    try:
        read_manifest(artifact)
    except ArtifactError:
        return False
    return True
