"""The IVF index on its own: recall against exact search, order, padding, bad arrays."""

from __future__ import annotations

import numpy as np
import pytest

from edgerec.infer import _ann
from edgerec.infer._ann import (
    DEFAULT_PROBES,
    SCANNED_ITEMS,
    ItemIndex,
    build_item_index,
    default_probes,
    list_count,
)


def clustered(items: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(items // 100, dim))
    table = centres[rng.integers(0, len(centres), items)] + 0.5 * rng.normal(size=(items, dim))
    return table.astype(np.float32)


def test_probed_search_finds_most_of_the_exact_top_100() -> None:
    table = clustered(20_000, 16, seed=1)
    index = ItemIndex(build_item_index(table), probes=16)
    assert len(index) == 20_000 and list_count(20_000) == 283
    rng = np.random.default_rng(2)
    queries = table[rng.integers(0, len(table), 50)] + 0.1 * rng.normal(size=(50, 16))
    found = index.top(queries.astype(np.float32), 100)
    recalls = []
    for query, row in zip(queries, found, strict=True):
        exact = np.argsort(-(table @ query))[:100]
        recalls.append(len(set(row.tolist()) & set(exact.tolist())) / 100)
    # 16 of 283 lists (~6% of the items) scanned.
    assert np.mean(recalls) > 0.9


@pytest.mark.parametrize(
    ("items", "probes"),
    [(1_000_000, 12), (10_000_000, 12), (200_000, 27), (100_000, 38), (1_000, 63), (1, 1)],
)
def test_default_probes_scan_about_as_many_items_whatever_the_catalog(
    items: int, probes: int
) -> None:
    lists = list_count(items)
    assert default_probes(items, lists) == probes
    # Never fewer than DEFAULT_PROBES, and enough lists for SCANNED_ITEMS unless all are read.
    assert probes >= min(DEFAULT_PROBES, lists)
    assert probes == lists or probes * items / lists >= SCANNED_ITEMS


def test_an_index_probes_by_default_what_its_size_asks() -> None:
    arrays = build_item_index(clustered(20_000, 16, seed=4))
    lists = len(arrays["ann_centroids"])
    assert ItemIndex(arrays).probes == default_probes(20_000, lists) == 85
    assert ItemIndex(arrays, probes=5).probes == 5
    assert ItemIndex(arrays, probes=10_000).probes == lists


def test_every_list_probed_gives_the_exact_order() -> None:
    table = clustered(500, 8, seed=3)
    arrays = build_item_index(table)
    index = ItemIndex(arrays, probes=len(arrays["ann_centroids"]))
    query = table[7] + 0.3
    found = index.top(query[None], 20)[0]
    exact = np.argsort(-(table @ query))[:20]
    # int8 scores: the same items, best first, up to near-ties.
    assert set(found[:10].tolist()) <= set(exact.tolist())
    assert found[0] == exact[0]


@pytest.mark.parametrize("compiled", [True, False])
def test_a_cosine_search_finds_the_cosine_neighbours_whatever_the_norms(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not compiled:
        monkeypatch.setattr(_ann, "native", None)
    rng = np.random.default_rng(5)
    # Norms over two orders of magnitude, as popular items' grow in training.
    table = clustered(20_000, 16, seed=5) * np.exp(rng.uniform(-2.3, 2.3, (20_000, 1)))
    table = table.astype(np.float32)
    index = ItemIndex(build_item_index(table))
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    picks = rng.integers(0, len(table), 50)

    def recall(cosine: bool) -> float:
        found = index.top(table[picks], 200, cosine=cosine)
        hits = []
        for item, row in zip(picks, found, strict=True):
            nearest = np.argsort(-(unit @ unit[item]))[:10]
            hits.append(len(set(row.tolist()) & set(nearest.tolist())) / 10)
        return float(np.mean(hits))

    assert recall(cosine=True) > 0.9
    # The inner products of an item's own vector favour the long vectors instead.
    assert recall(cosine=False) < 0.5


def test_probes_asked_for_override_the_index_own() -> None:
    table = clustered(2_000, 8, seed=6)
    index = ItemIndex(build_item_index(table), probes=1)
    lists = len(build_item_index(table)["ann_centroids"])
    # One list holds far fewer than 2,000 items; every list holds them all.
    assert (index.top(table[:1], 2_000)[0] == -1).any()
    assert (index.top(table[:1], 2_000, probes=lists)[0] >= 0).all()


def test_rows_are_padded_when_the_probed_lists_hold_too_few_items() -> None:
    table = clustered(200, 4, seed=4)
    index = ItemIndex(build_item_index(table), probes=1)
    found = index.top(table[:3], 150)
    assert found.shape == (3, 150)
    assert (found[:, -1] == -1).all() and (found[:, 0] >= 0).all()


def test_inconsistent_arrays_are_refused() -> None:
    arrays = build_item_index(clustered(300, 4, seed=5))
    with pytest.raises(ValueError, match="offsets"):
        ItemIndex({**arrays, "ann_offsets": arrays["ann_offsets"][:-1]})
    with pytest.raises(ValueError, match="length"):
        ItemIndex({**arrays, "ann_scales": arrays["ann_scales"][:-1]})
