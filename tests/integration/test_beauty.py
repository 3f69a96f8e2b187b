"""Short real runs on the shared Amazon Beauty file (read from ../shared/datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgerec.artifact import load_artifact
from edgerec.data import SequenceData, build_sequences, leave_one_out, read_interactions
from edgerec.evaluate import evaluate_ranking, published_rows, top_k
from edgerec.train import SASRecConfig, fit_popularity, train_model

pytestmark = pytest.mark.slow
PUBLISHED_POP = dict(
    zip(
        ("HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20"),
        published_rows("Beauty")["Pop (S3-Rec table)"],
        strict=True,
    )
)


@pytest.fixture(scope="module")
def beauty(beauty_path: Path) -> SequenceData:
    return build_sequences(read_interactions(beauty_path), seed=0)


@pytest.fixture(scope="module")
def beauty_path() -> Path:  # module scope twin of the conftest fixture
    from tests.conftest import datasets_dir

    path = datasets_dir() / "Beauty" / "Beauty.txt"
    if not path.exists():
        pytest.fail(f"shared dataset missing: {path}")
    return path


def test_popularity_reproduces_the_published_row(beauty: SequenceData) -> None:
    """S3-Rec's Pop counted every event, test included; we reproduce it to within 5%."""
    split = leave_one_out(beauty)
    histories, targets = split.inputs(beauty.sequences, "test")
    metrics = evaluate_ranking(
        fit_popularity(beauty.sequences, beauty.num_items).score,
        histories,
        targets,
        beauty.num_items,
    )
    for name, published in PUBLISHED_POP.items():
        assert published is not None
        assert abs(metrics[name] - published) / published <= 0.05, (name, metrics[name])


def test_short_hybrid_run_clears_the_regression_floor(
    beauty: SequenceData, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("beauty") / "hybrid"
    config = SASRecConfig(epochs=3, patience=3, max_minutes=3.0, batch_size=256, seed=0)
    outcome = train_model(beauty, "hybrid", out, sasrec=config, progress=False)
    assert outcome.test is not None
    # Popularity scores NDCG@10 .0068 here; the published SASRec row .0318.
    assert outcome.test["NDCG@10"] > 0.045
    assert outcome.test["HR@10"] > 0.07

    # The artifact's numpy path gives the same top-10 as the PyTorch training model.
    loaded = load_artifact(out)
    split = leave_one_out(beauty)
    histories, _ = split.inputs(beauty.sequences, "test")
    same: list[bool] = []
    for start in range(0, len(histories), 1000):  # every Beauty user, as issue 2 asks
        batch = histories[start : start + 1000]
        reference = top_k(_torch_scores(outcome, batch, beauty.num_items), 10)
        exported = top_k(loaded.scorer.sequential.score(batch), 10)  # type: ignore[attr-defined]
        same += [set(a) == set(b) for a, b in zip(reference, exported, strict=True)]
    agreement = float(np.mean(same))
    assert agreement >= 0.99, agreement


def _torch_scores(outcome: object, histories: list[np.ndarray], num_items: int) -> np.ndarray:
    from edgerec.train._sasrec_fit import torch_scorer

    net = outcome.net  # type: ignore[attr-defined]
    return np.concatenate(
        [torch_scorer(net)(histories[i : i + 500]) for i in range(0, len(histories), 500)]
    )
