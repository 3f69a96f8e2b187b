"""Shared fixtures: fixed seeds, a clean environment, generated data with a planted pattern."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgerec.data import Interactions, SequenceData, build_sequences
from edgerec.train import SASRecConfig, train_model

REPO = Path(__file__).resolve().parents[1]


def datasets_dir() -> Path:
    return Path(os.environ.get("EDGEREC_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("EDGEREC_") and name != "EDGEREC_DATASETS":
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def beauty_path() -> Path:
    path = datasets_dir() / "Beauty" / "Beauty.txt"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared dataset missing in CI: {path}")
        pytest.skip(f"shared dataset not found: {path}")
    return path


def planted_interactions(users: int = 300, items: int = 60, seed: int = 0) -> Interactions:
    """Shoppers walk a hidden cycle: after item k comes item perm[k] (80%) or a random item.

    A model that learns transitions predicts the next item far above chance; popularity can't.
    """
    rng = np.random.default_rng(seed)
    successor = rng.permutation(items)
    user_ids, item_ids, times = [], [], []
    for user in range(users):
        current = int(rng.integers(items))
        for step in range(int(rng.integers(6, 12))):
            user_ids.append(f"u{user}")
            item_ids.append(f"sku-{current}")
            times.append(1_700_000_000.0 + 60 * step)
            current = int(successor[current]) if rng.random() < 0.8 else int(rng.integers(items))
    count = len(user_ids)
    return Interactions(
        user_ids=np.array(user_ids, dtype=object),
        item_ids=np.array(item_ids, dtype=object),
        timestamps=np.array(times),
        weights=np.ones(count, dtype=np.float32),
        event_types=np.full(count, "", dtype=object),
        source="planted",
    )


@pytest.fixture
def planted() -> SequenceData:
    return build_sequences(planted_interactions(), seed=0)


@pytest.fixture
def artifact(tmp_path: Path, planted: SequenceData) -> Path:
    out = tmp_path / "artifact"
    config = SASRecConfig(
        embedding_size=16, num_layers=1, num_heads=1, max_len=8, epochs=2, threads=1
    )
    train_model(planted, "hybrid", out, sasrec=config, progress=False)
    return out


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone set to UTC-5 (POSIX spells it with the sign reversed)."""
    monkeypatch.setenv("TZ", "EST+5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
