"""The compiled selection kernels (_select.c) must select what the numpy references select."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgerec.artifact import load_artifact
from edgerec.infer import HybridScorer, TransitionScorer, _ann
from edgerec.infer._ann import ItemIndex, build_item_index, quantize_queries
from edgerec.infer._kernels import native
from edgerec.serve import _topk
from edgerec.serve._topk import ANY_CATEGORY, top_k_filtered

pytestmark = [
    pytest.mark.skipif(
        native is None or os.environ.get("EDGEREC_NATIVE") == "0", reason="compiled kernels off"
    ),
    pytest.mark.usefixtures("each_build"),
]


def filtered_both_ways(
    monkeypatch: pytest.MonkeyPatch,
    scores: np.ndarray,
    k: int,
    dropped: list[np.ndarray],
    categories: np.ndarray,
    codes: list[int],
) -> tuple[tuple[np.ndarray, np.ndarray, list[int]], ...]:
    compiled = top_k_filtered(scores.copy(), k, dropped, categories, codes)
    with monkeypatch.context() as patched:
        patched.setattr(_topk, "native", None)
        reference = top_k_filtered(scores.copy(), k, dropped, categories, codes)
    return compiled, reference


def assert_same_selection(
    compiled: tuple[np.ndarray, np.ndarray, list[int]],
    reference: tuple[np.ndarray, np.ndarray, list[int]],
) -> None:
    assert compiled[2] == reference[2]
    for row, kept in enumerate(reference[2]):
        np.testing.assert_array_equal(compiled[0][row, :kept], reference[0][row, :kept])
        np.testing.assert_array_equal(compiled[1][row, :kept], reference[1][row, :kept])


@pytest.mark.parametrize(
    ("rows", "width", "k"),
    [(1, 12_101, 10), (5, 12_101, 100), (3, 1000, 200), (4, 70, 70), (2, 17, 5), (3, 64, 1)],
)
def test_top_k_matches_numpy(
    monkeypatch: pytest.MonkeyPatch, rows: int, width: int, k: int
) -> None:
    # Small widths take the path without a floor; rounded scores make many ties.
    rng = np.random.default_rng(width + k)
    scores = rng.standard_normal((rows, width)).astype(np.float32)
    scores[:, ::3] = np.round(scores[:, ::3], 1)
    categories = rng.integers(-1, 4, width).astype(np.int32)
    dropped = [rng.integers(0, width, 12) for _ in range(rows)]
    # Every kind of row: no category, a known one, one no item has.
    codes = [[ANY_CATEGORY, 2, -2][row % 3] for row in range(rows)]
    compiled, reference = filtered_both_ways(monkeypatch, scores, k, dropped, categories, codes)
    assert_same_selection(compiled, reference)
    assert compiled[0].shape == (rows, min(k, width))


def test_two_lists_of_dropped_items_drop_their_union(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's seen items and excluded items as two lists (int32, as the vocabulary gives
    them; an empty one; a list of ints), and no category codes at all (None)."""
    rng = np.random.default_rng(8)
    scores = rng.standard_normal((3, 500)).astype(np.float32)
    categories = np.zeros(500, np.int32)
    seen = [rng.integers(0, 500, 9).astype(np.int32) for _ in range(3)]
    excluded = [np.zeros(0, np.int32), scores[1].argsort()[-4:].astype(np.int32), [7, 8]]
    union = [
        np.concatenate((a, np.asarray(b, np.int64))) for a, b in zip(seen, excluded, strict=True)
    ]
    compiled = top_k_filtered(scores.copy(), 20, seen, categories, None, None, excluded)
    joined = top_k_filtered(scores.copy(), 20, union, categories, [ANY_CATEGORY] * 3)
    with monkeypatch.context() as patched:
        patched.setattr(_topk, "native", None)
        reference = top_k_filtered(scores.copy(), 20, seen, categories, None, None, excluded)
    assert_same_selection(compiled, reference)
    assert_same_selection(compiled, joined)
    for row, dropped in enumerate(union):
        assert not set(compiled[0][row].tolist()) & set(np.asarray(dropped).tolist())


def test_rows_with_fewer_than_k_unfiltered_items(monkeypatch: pytest.MonkeyPatch) -> None:
    scores = np.arange(40, dtype=np.float32).reshape(2, 20)
    categories = np.array([0, 1] * 10, dtype=np.int32)
    # Row 0: 10 items of category 1 minus 2 dropped; row 1: every item dropped.
    dropped = [np.array([1, 3]), np.arange(20)]
    compiled, reference = filtered_both_ways(monkeypatch, scores, 12, dropped, categories, [1, -1])
    assert compiled[2] == [8, 0]
    assert_same_selection(compiled, reference)
    assert compiled[0][0, :8].tolist() == [19, 17, 15, 13, 11, 9, 7, 5]


def test_nan_scores_are_never_selected() -> None:
    scores = np.array([[1.0, np.nan, 3.0, np.nan, 2.0]], dtype=np.float32)
    none = [np.zeros(0, dtype=np.int64)]
    columns, best, kept = top_k_filtered(scores, 4, none, np.zeros(5, np.int32), [ANY_CATEGORY])
    assert kept == [3]
    assert columns[0, :3].tolist() == [2, 4, 0]
    assert best[0, :3].tolist() == [3.0, 2.0, 1.0]


@pytest.mark.parametrize("k", [47, 48, 120, 300])
def test_large_k_with_ties_nan_and_too_few_real_scores(k: int) -> None:
    # Around and above the switch from the heap to radix selection: rounded scores tie, NaN
    # and -inf are never kept, and a row may hold fewer than k real scores.
    rng = np.random.default_rng(k)
    scores = np.round(rng.standard_normal((3, 300)), 1).astype(np.float32)
    scores[0, rng.choice(300, 40, replace=False)] = np.nan
    scores[1, rng.choice(300, 250, replace=False)] = -np.inf
    scores[2, ::2] = np.nan
    none = [np.zeros(0, dtype=np.int64)] * 3
    columns, best, kept = top_k_filtered(scores, k, none, np.zeros(300, np.int32), [-1] * 3)
    for row in range(3):
        real = [(-float(v), i) for i, v in enumerate(scores[row]) if np.isfinite(v)]
        expected = [i for _, i in sorted(real)[:k]]
        assert kept[row] == len(expected)
        assert columns[row, : kept[row]].tolist() == expected
        assert best[row, : kept[row]].tolist() == scores[row, expected].tolist()


Selection = tuple[np.ndarray, np.ndarray, list[int]]


def assert_same_kept_rows(compiled: Selection, reference: Selection) -> None:
    """Two `top_k_filtered` results agree on each row's kept items (as many as the reference
    kept): the same columns, their scores equal to float32 rounding."""
    for row, kept in enumerate(reference[2]):
        np.testing.assert_array_equal(compiled[0][row, :kept], reference[0][row, :kept])
        np.testing.assert_allclose(compiled[1][row, :kept], reference[1][row, :kept], rtol=1e-5)


@pytest.fixture
def hybrid(artifact: Path) -> HybridScorer:
    scorer = load_artifact(artifact).scorer
    assert isinstance(scorer, HybridScorer)
    return scorer


@pytest.mark.parametrize("weight", [None, 0.0])
def test_hybrid_selection_matches_scoring_then_selecting(
    monkeypatch: pytest.MonkeyPatch, hybrid: HybridScorer, weight: float | None
) -> None:
    # The compiled path finishes each row (softmax, transitions) as it selects it and divides
    # only the kept scores; the reference scores the whole matrix first, in numpy.
    if weight is not None:
        hybrid = HybridScorer(hybrid.sequential, hybrid.transitions, weight)
    rng = np.random.default_rng(3)
    n = hybrid.num_items
    histories = [rng.integers(0, n, length) for length in (1, 3, 8, 20, 5)]
    categories = rng.integers(-1, 3, n).astype(np.int32)
    codes = [ANY_CATEGORY, 1, -2, ANY_CATEGORY, 0]
    raw = hybrid.sequential.score(histories)
    compiled = top_k_filtered(raw.copy(), 12, histories, categories, codes, (hybrid, histories))
    with monkeypatch.context() as patched:
        patched.setattr(_topk, "native", None)
        reference = top_k_filtered(hybrid.score(histories), 12, histories, categories, codes)
    assert compiled[2] == reference[2]
    assert compiled[2][2] == 0 and compiled[2][0] == 12  # an unknown category keeps nothing
    assert_same_kept_rows(compiled, reference)


def random_transitions(items: int, rng: np.random.Generator) -> TransitionScorer:
    """Up to 40 next items per item, each row's weights summing to 1, as training makes them."""
    counts = rng.integers(0, 40, items)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    data = rng.random(int(indptr[-1])).astype(np.float32)
    owners = np.repeat(np.arange(items), counts)
    data /= np.bincount(owners, weights=data, minlength=items)[owners].astype(np.float32)
    indices = rng.integers(0, items, int(indptr[-1])).astype(np.int32)
    return TransitionScorer(indptr, indices, data, items, history_len=5, history_decay=0.5)


# k = 60 is past _select.c's RADIX_MIN_K (radix selection); 47 selects in one-vector blocks,
# 1 and 10 in four-vector ones.
@pytest.mark.parametrize("k", [1, 10, 47, 60])
@pytest.mark.parametrize("weight", [0.0, 0.3, 30.0])
def test_hybrid_rows_of_a_large_catalog_match_scoring_then_selecting(
    monkeypatch: pytest.MonkeyPatch, hybrid: HybridScorer, k: int, weight: float
) -> None:
    # The planted catalog's 60 items are too few for the selection's floor (k strided groups
    # of blocks, see _select.c's scan_row): 3,000 items, random transitions and scores.
    n = 3000
    rng = np.random.default_rng(k)
    transitions = random_transitions(n, rng)
    scorer = HybridScorer(hybrid.sequential, transitions, weight)
    histories = [rng.integers(0, n, length) for length in (1, 5, 12, 30, 3, 8)]
    raw = (3 * rng.standard_normal((6, n))).astype(np.float32)
    raw[4, -3] = 20.0  # the row's maximum among the last scores, past every whole block
    last = int(histories[2][-1])
    followers = transitions.indices[transitions.indptr[last] : transitions.indptr[last + 1]]
    # Excluded items: random ones, and (row 2) the items after its newest one, which a large
    # weight would otherwise rank first.
    dropped = [np.concatenate([h, rng.integers(0, n, 3)]) for h in histories]
    dropped[2] = np.concatenate([dropped[2], followers[:3]])
    categories = rng.integers(-1, 4, n).astype(np.int32)
    codes = [ANY_CATEGORY, 1, ANY_CATEGORY, -2, ANY_CATEGORY, 0]
    selected = (k, dropped, categories, codes, (scorer, histories))
    compiled = top_k_filtered(raw.copy(), *selected)
    with monkeypatch.context() as patched:
        patched.setattr(_topk, "native", None)
        reference = top_k_filtered(raw.copy(), *selected)
    assert compiled[2] == reference[2]
    assert compiled[2][3] == 0  # an unknown category keeps nothing
    assert set(compiled[0][2, : compiled[2][2]].tolist()).isdisjoint(followers[:3].tolist())
    assert_same_kept_rows(compiled, reference)


def test_a_nan_score_empties_its_row_in_the_hybrid_selection_as_in_the_softmax(
    monkeypatch: pytest.MonkeyPatch, hybrid: HybridScorer
) -> None:
    # The softmax of a row with a NaN is NaN throughout, and NaN is never selected: the
    # compiled path, which divides only the kept scores, must not keep the row's other items.
    histories = [np.array([1, 2]), np.array([3])]
    raw = hybrid.sequential.score(histories)
    raw[0, 7] = np.nan
    categories = np.zeros(hybrid.num_items, np.int32)
    codes = [ANY_CATEGORY] * 2
    compiled = top_k_filtered(raw.copy(), 5, histories, categories, codes, (hybrid, histories))
    with monkeypatch.context() as patched:
        patched.setattr(_topk, "native", None)
        reference = top_k_filtered(raw.copy(), 5, histories, categories, codes, (hybrid, histories))
    assert compiled[2] == reference[2] == [0, 5]


def test_hybrid_selection_refuses_an_item_outside_the_transition_table(
    hybrid: HybridScorer,
) -> None:
    n = hybrid.num_items
    histories = [np.array([1, n + 5])]
    raw = hybrid.sequential.score([np.array([1, 2])])
    with pytest.raises(IndexError, match="transition index"):
        top_k_filtered(
            raw, 5, histories, np.zeros(n, np.int32), [ANY_CATEGORY], (hybrid, histories)
        )


def floor_cases() -> dict[str, np.ndarray]:
    """Rows of 4,000 scores that the floor (the least of k strided groups' largest block
    maximum) must prune without losing one of the k best."""
    rng = np.random.default_rng(5)
    ascending = np.arange(4000, dtype=np.float32)
    in_one_block = rng.standard_normal(4000).astype(np.float32)
    in_one_block[1000:1010] += 100.0  # the k best share a block, and a group
    ties = np.round(rng.standard_normal(4000), 0).astype(np.float32)  # maxima tie at the floor
    nan_blocks = rng.standard_normal(4000).astype(np.float32)
    nan_blocks[::7] = np.nan  # a NaN in most blocks: their maxima may read as NaN
    nan_blocks[3200:3264] = np.nan  # two blocks of nothing but NaN
    return {
        "ascending": ascending,
        "descending": ascending[::-1].copy(),
        "in_one_block": in_one_block,
        "ties": ties,
        "nan_blocks": nan_blocks,
        "mostly_filtered": np.where(rng.random(4000) < 0.99, -np.inf, ascending),
    }


@pytest.mark.parametrize("case", list(floor_cases()))
@pytest.mark.parametrize("k", [1, 10, 47])
def test_the_floor_never_prunes_one_of_the_k_best(case: str, k: int) -> None:
    row = floor_cases()[case]
    none = [np.zeros(0, dtype=np.int64)]
    columns, best, kept = top_k_filtered(row[None].copy(), k, none, np.zeros(4000, np.int32), [-1])
    real = sorted((-float(v), i) for i, v in enumerate(row) if np.isfinite(v))
    expected = [i for _, i in real[:k]]
    assert kept == [len(expected)]
    assert columns[0, : kept[0]].tolist() == expected
    assert best[0, : kept[0]].tolist() == row[expected].tolist()


def test_top_k_refuses_bad_input() -> None:
    assert native is not None
    scores = np.zeros((1, 8), dtype=np.float32)

    def call(banned: list[int], k: int = 2, groups: int = 1, codes: object = None) -> None:
        assert native is not None
        native.top_k(
            scores, 1, 8, k, [np.array(banned, dtype=np.int64)] * groups, None,
            np.zeros(8, np.int32), codes, np.zeros((1, k), np.int64),
            np.zeros((1, k), np.float32), np.zeros(1, np.int64),
        )  # fmt: skip

    with pytest.raises(IndexError):
        call([8])
    with pytest.raises(IndexError):
        call([-1])
    with pytest.raises(ValueError):
        call([], k=9)
    with pytest.raises(ValueError):
        call([], groups=2)  # a group per row, no more
    with pytest.raises(ValueError):
        call([], codes=[-1, -1])
    with pytest.raises(TypeError):
        call([], codes=["any"])


def test_index_scan_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Widths around the vector steps; distinct scores, so the order is exact.
    rng = np.random.default_rng(11)
    for dim in (64, 32, 80, 12, 40, 200):
        table = rng.standard_normal((3000, dim)).astype(np.float32)
        index = ItemIndex(build_item_index(table), probes=6)
        queries = table[:7] + 0.1
        compiled = index.top(queries, 150)
        with monkeypatch.context() as patched:
            patched.setattr(_ann, "native", None)
            reference = index.top(queries, 150)
        np.testing.assert_array_equal(compiled, reference)


@pytest.mark.parametrize("dim", [1, 64, 1000])
def test_quantized_queries_keep_every_row_product_in_an_int32(dim: int) -> None:
    queries = np.random.default_rng(dim).standard_normal((3, dim)).astype(np.float32)
    queries[2] = 0.0
    queries[1, 0] = np.nan  # counts as 0
    values, scales = quantize_queries(queries)
    assert values.dtype == np.int16 and scales.dtype == np.float32
    # The worst row: 127 (or -127) against every value's sign.
    assert int(np.abs(values.astype(np.int64)).sum(axis=1).max()) * 127 < 2**31
    finite = np.nan_to_num(queries[:2])
    np.testing.assert_allclose(values[:2] * scales[:2, None], finite, atol=scales.max())
    assert (values[2] == 0).all() and scales[2] == 1.0


@pytest.mark.parametrize("dim", [1, 3, 64, 1000])
def test_compiled_quantizer_matches_numpy_to_the_bit(dim: int) -> None:
    assert native is not None
    rng = np.random.default_rng(dim)
    queries = rng.standard_normal((6, dim)).astype(np.float32)
    queries[1] *= 1e30  # huge, and tiny: the scale follows the row
    queries[2] *= 1e-30
    queries[3] = 0.0
    queries[4, 0] = np.inf  # counts as 0, as NaN does
    queries[4, -1] = np.nan
    # Halves after scaling, where rint rounds to even: a row of k + 0.5 multiples.
    queries[5] = (np.arange(dim) % 7 + 0.5).astype(np.float32)
    values = np.full((6, dim), 99, dtype=np.int16)
    scales = np.zeros(6, dtype=np.float32)
    native.quantize(queries, 6, dim, values, scales)
    expected_values, expected_scales = quantize_queries(queries)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(scales, expected_scales)


def test_compiled_quantizer_refuses_short_outputs() -> None:
    assert native is not None
    queries = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError):
        native.quantize(queries, 2, 3, np.empty(5, np.int16), np.empty(2, np.float32))
    with pytest.raises(ValueError):
        native.quantize(queries, 2, 3, np.empty(6, np.int16), np.empty(1, np.float32))


def test_index_scan_refuses_bad_lists() -> None:
    assert native is not None
    arrays = build_item_index(np.ones((100, 4), dtype=np.float32))
    lists = len(arrays["ann_centroids"])
    out = np.zeros((1, 5), dtype=np.int64)
    offsets = arrays["ann_offsets"].copy()
    offsets[-1] = 101  # past the last row

    def scan(offsets: np.ndarray, probes: int = lists) -> None:
        assert native is not None
        native.ivf_scan(
            arrays["ann_vectors"], arrays["ann_scales"], 100, offsets, lists,
            np.ones((1, 4), np.int16), np.ones(1, np.float32), 1, 4,
            np.zeros((1, lists), np.float32), probes, 5, out,
        )  # fmt: skip

    scan(arrays["ann_offsets"])
    with pytest.raises(IndexError):
        scan(offsets)
    with pytest.raises(ValueError):
        scan(arrays["ann_offsets"], probes=lists + 1)


def test_candidates_rescored_like_numpy() -> None:
    # One call for a batch: each row its own vector, candidates (the first `counts[r]` of its
    # row, -1 padded), dropped ids and category.
    rng = np.random.default_rng(12)
    table = rng.standard_normal((500, 72)).astype(np.float16)  # 72: the scalar tail too
    vectors = rng.standard_normal((3, 72)).astype(np.float32)
    categories = rng.integers(-1, 3, 500).astype(np.int32)
    candidates = np.full((3, 123), -1, dtype=np.int64)
    candidates[:, :120] = [rng.permutation(500)[:120] for _ in range(3)]
    candidates[:, 120:] = [-1, 500, 7]
    counts = [123, 123, 60]
    dropped = [candidates[0, [3, 10, 50]], np.zeros(0, np.int64), candidates[2, [0, 1]]]
    codes = [ANY_CATEGORY, 1, ANY_CATEGORY]
    ids, scores, found = _topk.top_k_candidates(
        table, vectors, candidates, counts, dropped, categories, codes, 10
    )
    for row in range(3):
        valid = candidates[row, : counts[row]]
        valid = valid[(valid >= 0) & (valid < 500)]
        valid = valid[~np.isin(valid, dropped[row])]
        if codes[row] != ANY_CATEGORY:
            valid = valid[categories[valid] == codes[row]]
        exact = table[valid].astype(np.float32) @ vectors[row]
        order = np.argsort(-exact, kind="stable")[:10]
        assert found[row] == 10
        np.testing.assert_array_equal(ids[row], valid[order])
        np.testing.assert_allclose(scores[row], exact[order], rtol=1e-5, atol=1e-5)


def test_rescoring_reports_rows_left_with_fewer_than_k() -> None:
    table = np.eye(4, dtype=np.float16)
    candidates = np.array([[0, 1, 2, 3], [3, -1, -1, -1]], dtype=np.int64)
    ids, scores, found = _topk.top_k_candidates(
        table, np.ones((2, 4), np.float32), candidates, [4, 1], [np.array([1]), np.zeros(0)],
        np.zeros(4, np.int32), [ANY_CATEGORY, ANY_CATEGORY], 3,
    )  # fmt: skip
    assert found == [3, 1]
    assert ids[0].tolist() == [0, 2, 3] and ids[1, :1].tolist() == [3]
    assert scores[0].tolist() == [1.0, 1.0, 1.0] and scores[1, 0] == 1.0


def rescored_column(table: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row of ``table`` ranked by its value in ``column`` (a one-hot vector)."""
    vector = np.zeros((1, table.shape[1]), dtype=np.float32)
    vector[0, column] = 1.0
    ids, scores, found = _topk.top_k_candidates(
        table, vector, np.arange(len(table))[None], [len(table)], [np.zeros(0, dtype=np.int64)],
        np.zeros(len(table), np.int32), [ANY_CATEGORY], len(table),
    )  # fmt: skip
    return ids[0, : found[0]], scores[0, : found[0]]


def test_every_float16_value_converts_exactly() -> None:
    # All 65,536 bit patterns as a (1024, 64) table. A row holding an infinity or NaN scores
    # NaN (inf * 0), so the infinities are checked in rows of their own.
    patterns = np.arange(1 << 16, dtype=np.uint16).view(np.float16).reshape(1024, 64)
    finite = patterns[np.isfinite(patterns).all(axis=1)]
    for column in (0, 17, 63):
        ids, scores = rescored_column(finite, column)
        np.testing.assert_array_equal(scores, finite[ids, column].astype(np.float32))
    special = np.zeros((3, 64), dtype=np.float16)
    special[:, 5] = [np.inf, -np.inf, np.float16(2.0**-24)]
    ids, scores = rescored_column(special, 5)
    assert len(finite) == 992 and scores.tolist() == [np.inf, 2.0**-24, -np.inf]


def test_rescoring_refuses_a_short_table_and_bad_rows() -> None:
    # 3 x 3 halves: an odd byte count is fine when whole; one row short is refused.
    table = np.ones((3, 3), dtype=np.float16)
    ids, _, found = _topk.top_k_candidates(
        table, np.ones((1, 3), np.float32), np.arange(3)[None], [3], [np.zeros(0, np.int64)],
        np.zeros(3, np.int32), [ANY_CATEGORY], 2,
    )  # fmt: skip
    assert found == [2] and ids[0].tolist() == [0, 1]
    assert native is not None

    def rescore(
        items: int = 3,
        count: int = 3,
        dropped: list[np.ndarray] | None = None,
        code: int = -1,
    ) -> None:
        dropped = [np.zeros(0, np.int64)] if dropped is None else dropped
        native.rescore(
            table, items, 3, np.ones(3, np.float32), 1, np.arange(3), 3,
            np.array([count], np.int64), dropped, None, np.zeros(2, np.int32), [code], 2,
            np.zeros(2, np.int64), np.zeros(2, np.float32), np.zeros(1, np.int64),
        )  # fmt: skip

    rescore()
    with pytest.raises(ValueError, match="table"):
        rescore(items=4)
    for count in (4, -1):
        with pytest.raises(ValueError, match="candidate counts"):
            rescore(count=count)
    with pytest.raises(ValueError, match="2 groups, expected 1"):
        rescore(dropped=[np.zeros(0, np.int64)] * 2)
    with pytest.raises(TypeError):
        rescore(dropped=[np.ones(2, np.float64)])
    with pytest.raises(ValueError, match="categories"):
        rescore(code=0)  # a category asked for, and categories for two of the three items


def test_rescoring_drops_both_groups_and_reads_lists() -> None:
    # A user's seen items and excluded ones, as two groups: the same as their union in one;
    # lists (not arrays) go through the conversion the engine's callers may need.
    rng = np.random.default_rng(3)
    table = rng.standard_normal((50, 8)).astype(np.float16)
    vectors = rng.standard_normal((2, 8)).astype(np.float32)
    candidates = np.stack([rng.permutation(50)[:30] for _ in range(2)])
    seen = [candidates[0, :3].astype(np.int32), np.zeros(0, np.int32)]
    excluded = [candidates[0, 5:7], candidates[1, :4]]
    union = [np.concatenate((a, b)).astype(np.int64) for a, b in zip(seen, excluded, strict=True)]
    args = (table, vectors, candidates, [30, 30])
    categories = np.zeros(50, np.int32)
    apart = _topk.top_k_candidates(*args, seen, categories, None, 10, excluded)
    together = _topk.top_k_candidates(*args, union, categories, None, 10)
    listed = _topk.top_k_candidates(
        *args, [g.tolist() for g in seen], categories, None, 10, [g.tolist() for g in excluded]
    )
    for result in (together, listed):
        np.testing.assert_array_equal(apart[0], result[0])
        np.testing.assert_array_equal(apart[1], result[1])
        assert apart[2] == result[2] == [10, 10]
    assert not np.isin(apart[0][0], union[0]).any() and not np.isin(apart[0][1], union[1]).any()


def test_large_k_orders_mixed_signs_and_ties_negative_zero_with_zero() -> None:
    # Radix selection's keys flip negative scores' bits (in vectors where the CPU has them,
    # one at a time in the tail): a row of mixed signs, infinities and subnormals, -0 tying
    # with +0 by index, and a length no vector width divides.
    rng = np.random.default_rng(11)
    n = 1003
    scores = rng.standard_normal((2, n)).astype(np.float32)
    scores[:, ::5] = 0.0
    scores[:, 2::5] = -0.0
    scores[0, [7, 8, 9, 10]] = [np.inf, 1e-45, -1e-45, -np.inf]
    scores[1, 500:] = -scores[1, 500:]
    none = [np.zeros(0, dtype=np.int64)] * 2
    for k in (48, 200, 600):
        columns, best, kept = top_k_filtered(
            scores.copy(), k, none, np.zeros(n, np.int32), [-1] * 2
        )
        for row in range(2):
            real = [(-float(v), i) for i, v in enumerate(scores[row]) if v > -np.inf]
            expected = [i for _, i in sorted(real)[:k]]
            assert kept[row] == len(expected)
            assert columns[row, : kept[row]].tolist() == expected
            assert best[row, : kept[row]].tolist() == scores[row, expected].tolist()
