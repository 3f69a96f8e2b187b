"""Contract: every model finds a planted sequential pattern; popularity counts exactly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edgerec.artifact import load_artifact
from edgerec.data import SequenceData, leave_one_out
from edgerec.errors import ConfigError, ModelFitError
from edgerec.evaluate import evaluate_ranking
from edgerec.infer import TransitionScorer
from edgerec.train import (
    SASRecConfig,
    TransitionConfig,
    fit_popularity,
    fit_transitions,
    train_model,
)

TINY = SASRecConfig(
    embedding_size=32,
    num_layers=1,
    num_heads=2,
    max_len=12,
    dropout=0.1,
    attn_dropout=0.1,
    learning_rate=5e-3,
    batch_size=64,
    epochs=25,
    patience=5,
    seed=0,
    threads=1,
)


def valid_ndcg(data: SequenceData, score: object) -> float:
    split = leave_one_out(data)
    histories, targets = split.inputs(data.sequences, "valid")
    return evaluate_ranking(score, histories, targets, data.num_items)["NDCG@10"]  # type: ignore[arg-type]


def test_popularity_counts() -> None:
    model = fit_popularity([np.array([0, 1, 1]), np.array([1, 2])], 4)
    assert model.counts.tolist() == [1.0, 3.0, 1.0, 0.0]
    assert model.score([np.array([0])] * 2).shape == (2, 4)


def test_transitions_find_the_planted_successor(planted: SequenceData) -> None:
    split = leave_one_out(planted)
    model = fit_transitions(split.train, planted.num_items, TransitionConfig())
    popularity = fit_popularity(split.train, planted.num_items)
    assert valid_ndcg(planted, model.score) > 0.5
    assert valid_ndcg(planted, popularity.score) < 0.15


def test_transitions_keep_top_neighbours_and_normalise() -> None:
    sequences = [np.array([0, 1]), np.array([0, 2]), np.array([0, 2]), np.array([0, 3])]
    model = fit_transitions(
        sequences, 4, TransitionConfig(window=1, reverse_weight=0.0, top_neighbors=2)
    )
    row = slice(model.indptr[0], model.indptr[1])
    assert model.indices[row].tolist()[0] == 2
    assert len(model.indices[row]) == 2
    assert model.data[row].sum() == pytest.approx(1.0)


def test_transitions_leave_their_ties_to_popularity() -> None:
    sequences = [np.array(s) for s in ([1, 2], [1, 2], [3, 4], [3, 4], [3, 4], [5, 4])]
    popularity = fit_popularity(sequences, 6)
    config = TransitionConfig(window=1, reverse_weight=0.0)
    model = fit_transitions(sequences, 6, config, popularity.counts)
    # Nothing ever followed item 0: the most popular items, not the lowest indices.
    assert np.argsort(-model.score([np.array([0])])[0], kind="stable")[:3].tolist() == [4, 3, 1]
    # What did follow still comes first, however popular the rest.
    assert int(np.argmax(model.score([np.array([1])])[0])) == 2


def test_a_transitions_artifact_keeps_its_prior(planted: SequenceData, tmp_path: Path) -> None:
    outcome = train_model(planted, "transitions", tmp_path / "m", score_test=False, progress=False)
    loaded = load_artifact(tmp_path / "m").scorer
    assert isinstance(loaded, TransitionScorer) and loaded.prior is not None
    history = [planted.sequences[0]]
    assert np.array_equal(loaded.score(history), outcome.scorer.score(history))


def test_sasrec_learns_the_planted_pattern_and_is_reproducible(planted: SequenceData) -> None:
    first = train_model(planted, "sasrec", None, sasrec=TINY, score_test=False, progress=False)
    second = train_model(planted, "sasrec", None, sasrec=TINY, score_test=False, progress=False)
    assert first.valid["NDCG@10"] > 0.5
    assert first.valid == second.valid
    assert len(first.history) >= 1 and "valid_NDCG@10" in first.history[0]


def test_hybrid_is_at_least_as_good_as_its_parts_on_validation(planted: SequenceData) -> None:
    outcome = train_model(planted, "hybrid", None, sasrec=TINY, score_test=True, progress=False)
    sweep = outcome.manifest["config"]["hybrid_sweep"]
    assert outcome.valid["NDCG@10"] == pytest.approx(max(sweep.values()))
    assert outcome.test is not None


def test_configs_reject_bad_values() -> None:
    with pytest.raises(ConfigError):
        SASRecConfig(embedding_size=30, num_heads=4)
    with pytest.raises(ConfigError):
        TransitionConfig(decay=1.5)
    with pytest.raises(ConfigError, match="threads must be >= 0"):
        SASRecConfig(threads=-2)  # torch would fail only once training starts
    with pytest.raises(ConfigError):
        train_model(SequenceData([], [], None, ""), "svd", None)  # type: ignore[arg-type]


def test_sasrec_needs_sequences_of_two(planted: SequenceData) -> None:
    from edgerec.train._sasrec_fit import fit_sasrec

    with pytest.raises(ModelFitError):
        fit_sasrec([np.array([1])], 5, TINY, progress=False)


def test_refit_trains_on_the_held_out_events_too(planted: SequenceData) -> None:
    # Item 1 follows item 0 only in the two events each user's split holds out.
    extra = [np.array([5, 6, 7, 0, 1], dtype=np.int32) for _ in range(3)]
    data = dataclasses.replace(
        planted,
        users=[*planted.users, "x1", "x2", "x3"],
        sequences=[*planted.sequences, *extra],
    )
    held_out = train_model(data, "transitions", None, score_test=False, progress=False)
    refit = train_model(data, "transitions", None, score_test=False, progress=False, refit=True)
    after_0 = [np.array([0], dtype=np.int32)]
    assert held_out.scorer.score(after_0)[0][1] < refit.scorer.score(after_0)[0][1]
    assert refit.manifest["config"]["refit"] == {"interactions": data.num_interactions}
    assert refit.valid == held_out.valid  # the metrics are the held-out fit's


def test_refit_runs_sasrec_for_the_chosen_epochs(planted: SequenceData, tmp_path: Path) -> None:
    config = dataclasses.replace(TINY, epochs=3, patience=3)
    outcome = train_model(
        planted, "hybrid", tmp_path / "model", sasrec=config, progress=False, refit=True
    )
    chosen = outcome.manifest["config"]
    assert chosen["refit"]["epochs"] == chosen["best_epoch"]
    model = load_artifact(tmp_path / "model")
    assert model.manifest["config"]["refit"]["epochs"] == chosen["best_epoch"]
    assert model.scorer.score([planted.sequences[0]]).shape == (1, planted.num_items)
