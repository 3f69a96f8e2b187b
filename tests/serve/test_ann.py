"""The ANN path: exported with the artifact, verified, memory-mapped, same answers as exact."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edgerec.artifact import load_artifact, read_manifest
from edgerec.data import SequenceData
from edgerec.infer import _ann
from edgerec.infer._ann import ANN_ARRAYS, ItemIndex
from edgerec.serve import _engine
from edgerec.serve._engine import Engine, Query
from edgerec.train import SASRecConfig, train_model

TINY = SASRecConfig(embedding_size=16, num_layers=1, num_heads=1, max_len=8, epochs=2, threads=1)


def test_ann_index_matches_exact_top_k(tmp_path: Path, planted: SequenceData) -> None:
    out = tmp_path / "ann"
    train_model(planted, "sasrec", out, sasrec=TINY, progress=False, ann_min_items=1)
    assert "ann_vectors.npy" in read_manifest(out)["files"]
    model = load_artifact(out)
    assert model.ann is not None and len(model.ann) == planted.num_items
    # Every list probed: the candidates are the exact top, up to int8 near-ties that the
    # exact rescoring settles.
    arrays = {name: np.load(out / f"{name}.npy") for name in ANN_ARRAYS}
    approximate = Engine(dataclasses.replace(model, ann=ItemIndex(arrays, probes=60)), {})
    exact = Engine(dataclasses.replace(model, ann=None), {})
    same = []
    for sequence in planted.sequences[:100]:
        history = planted.vocab.external(sequence[:-1])
        a = [r.item_id for r in approximate.recommend(history, 10)]
        b = [r.item_id for r in exact.recommend(history, 10)]
        same.append(a == b)
    assert np.mean(same) == 1.0


@pytest.mark.parametrize(("model", "indexed"), [("sasrec", True), ("hybrid", False)])
def test_by_default_a_catalog_gets_an_index_from_its_model_types_size(
    tmp_path: Path,
    planted: SequenceData,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    indexed: bool,
) -> None:
    # The catalog is as large as a sasrec model's default asks, one item short of a hybrid's.
    monkeypatch.setattr(_ann, "SASREC_ANN_MIN_ITEMS", planted.num_items)
    monkeypatch.setattr(_ann, "HYBRID_ANN_MIN_ITEMS", planted.num_items + 1)
    out = tmp_path / model
    train_model(planted, model, out, sasrec=TINY, progress=False)
    assert ("ann_vectors.npy" in read_manifest(out)["files"]) is indexed


def test_similar_items_through_the_index_match_the_exact_pass(
    tmp_path: Path, planted: SequenceData
) -> None:
    out = tmp_path / "ann"
    train_model(planted, "sasrec", out, sasrec=TINY, progress=False, ann_min_items=1)
    model = load_artifact(out)
    arrays = {name: np.load(out / f"{name}.npy") for name in ANN_ARRAYS}
    # Every list probed: the candidates hold every item, so the cosine ranking is exact.
    approximate = Engine(dataclasses.replace(model, ann=ItemIndex(arrays, probes=60)), {})
    exact = Engine(dataclasses.replace(model, ann=None), {})
    for item in planted.vocab.external(range(0, planted.num_items, 7)):
        a, b = approximate.similar(item, 5), exact.similar(item, 5)
        assert a is not None and b is not None and item not in [r.item_id for r in a]
        assert [r.item_id for r in a] == [r.item_id for r in b]
        assert [r.score for r in a] == pytest.approx([r.score for r in b], rel=1e-5)
    assert approximate.similar("no-such-item", 5) is None
    # One probe of the ~15 lists holds a handful of items: too few for k = 20, so the exact
    # pass answers instead of a short list.
    narrow = Engine(dataclasses.replace(model, ann=ItemIndex(arrays, probes=1)), {})
    item = planted.vocab.external([0])[0]
    assert narrow.similar(item, 20) == exact.similar(item, 20)


def test_ann_answers_respect_filters(tmp_path: Path, planted: SequenceData) -> None:
    out = tmp_path / "ann"
    train_model(planted, "sasrec", out, sasrec=TINY, progress=False, ann_min_items=1)
    engine = Engine(
        load_artifact(out),
        {f"sku-{i}": (f"Item {i}", "even" if i % 2 == 0 else "odd") for i in range(60)},
    )
    history = ["sku-1", "sku-2"]
    ranked = engine.recommend(history, 5, exclude=["sku-4"], category="even")
    ids = [r.item_id for r in ranked]
    assert len(ids) == 5 and "sku-2" not in ids and "sku-4" not in ids
    assert all(int(i.split("-")[1]) % 2 == 0 for i in ids)


@pytest.mark.parametrize("small_set", [64, 0])  # 0: every exclusion through np.isin
def test_a_batch_answers_like_each_query_alone(
    tmp_path: Path, planted: SequenceData, small_set: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "_SMALL_SET", small_set)
    out = tmp_path / "ann"
    train_model(planted, "sasrec", out, sasrec=TINY, progress=False, ann_min_items=1)
    engine = Engine(load_artifact(out), {})
    excluded = [f"sku-{i}" for i in range(0, 40, 3)]
    queries = [
        Query(planted.vocab.external(sequence[:-1]), k, exclude=excluded)
        for sequence, k in zip(planted.sequences[:12], [1, 5, 10, 3] * 3, strict=True)
    ]
    together = engine.recommend_many(queries)
    for query, answer in zip(queries, together, strict=True):
        alone = engine.recommend_many([query])[0]
        # Same items; scores equal up to float rounding (a padded batch sums in another order).
        assert [r.item_id for r in answer] == [r.item_id for r in alone]
        np.testing.assert_allclose([r.score for r in answer], [r.score for r in alone], rtol=1e-5)
        assert len(answer) == query.k
        assert not {r.item_id for r in answer} & (set(excluded) | set(query.history))
