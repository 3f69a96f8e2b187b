"""Exact top-k of many score rows at once, without partitioning every row.

Each row is cut into ``groups`` strided groups and the maximum of each group taken (one
vectorised pass). If ``t`` is the k-th largest of those maxima, at least k scores are >= t, so
every one of the row's k best is >= t: only the few scores >= t (about k when the best items
fall in different groups) are sorted. A per-row ``argpartition`` and sort cost 3-4x more in
batches of 16 (``python benchmarks/topk.py``).

`top_k_filtered` applies the engine's filters first; where the compiled kernels are built it
filters and selects each row in one pass of ``_select.c`` (for the hybrid model, after making
that row's hybrid scores from the sequential model's, while the row is in cache).
`top_k_candidates` (compiled only) rescores and selects a batch's ANN candidates against a
float16 table, each user's in turn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgerec.infer import HybridScorer
from edgerec.infer._kernels import integer_groups, native

GROUPS = 256
# A row's category code when it asks for no category.
ANY_CATEGORY = -1


def top_k_filtered(
    scores: np.ndarray,
    k: int,
    dropped: Sequence[np.ndarray],
    categories: np.ndarray,
    codes: Sequence[int] | None,
    hybrid: tuple[HybridScorer, Sequence[np.ndarray]] | None = None,
    also_dropped: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """`top_k_rows` after each row's ``dropped`` columns (and ``also_dropped`` ones: a user's
    seen and excluded items, say), and (where ``codes[r]`` is not `ANY_CATEGORY`; None: no
    row's is) the columns whose ``categories`` entry differs from ``codes[r]``, are set to
    ``-inf`` in ``scores``; and how many of each row's k are above ``-inf``.

    With ``hybrid`` (a hybrid scorer and each row's history), ``scores`` are its sequential
    model's and become the hybrid's first (`HybridScorer.finish`); compiled, row by row as
    each is selected, and only the k kept scores are normalised.
    """
    rows, width = scores.shape
    k = max(0, min(k, width))
    compiled = native is not None and scores.dtype == np.float32 and scores.flags.c_contiguous
    if compiled and rows and k and categories.dtype == np.int32 and len(categories) == width:
        columns = np.empty((rows, k), dtype=np.int64)
        best = np.empty((rows, k), dtype=np.float32)
        kept = np.empty(rows, dtype=np.int64)
        try:
            _select(
                scores, k, dropped, also_dropped, categories, codes, hybrid, columns, best, kept
            )
        except TypeError:  # not int32 or int64 arrays: lists, say
            _select(
                scores, k, integer_groups(dropped),
                None if also_dropped is None else integer_groups(also_dropped), categories,
                codes, None if hybrid is None else (hybrid[0], integer_groups(hybrid[1])),
                columns, best, kept,
            )  # fmt: skip
        return columns, best, kept.tolist()
    if hybrid is not None:
        hybrid[0].finish(scores, hybrid[1])
    for row in range(rows):
        columns = dropped[row]
        if also_dropped is not None and len(also_dropped[row]):
            columns = np.concatenate((columns, also_dropped[row]))
        code = ANY_CATEGORY if codes is None else codes[row]
        filter_row(scores[row], np.asarray(columns, dtype=np.int64), categories, code)
    columns, best = top_k_rows(scores, k)
    return columns, best, (best > -np.inf).sum(axis=1).tolist()


def _select(
    scores: np.ndarray,
    k: int,
    dropped: Sequence[np.ndarray],
    also_dropped: Sequence[np.ndarray] | None,
    categories: np.ndarray,
    codes: Sequence[int] | None,
    hybrid: tuple[HybridScorer, Sequence[np.ndarray]] | None,
    columns: np.ndarray,
    best: np.ndarray,
    kept: np.ndarray,
) -> None:
    """The compiled half of `top_k_filtered`, into ``columns``, ``best`` and ``kept``."""
    assert native is not None
    rows, width = scores.shape
    selected = (
        scores, rows, width, k, dropped, also_dropped, categories, codes, columns, best, kept
    )  # fmt: skip
    if hybrid is None:
        native.top_k(*selected)
        return
    scorer, histories = hybrid
    table = scorer.transitions
    native.top_k_hybrid(
        *selected, table.indptr, table.indices, table.data, histories, table.history_len,
        table.history_decay, scorer.weight,
    )  # fmt: skip


def filter_row(row: np.ndarray, dropped: np.ndarray, categories: np.ndarray, code: int) -> None:
    """Set ``row``'s ``dropped`` columns and (unless ``code`` is `ANY_CATEGORY`) those of other
    categories to ``-inf``, in place."""
    row[dropped] = -np.inf
    if code != ANY_CATEGORY:
        row[categories != code] = -np.inf


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, k) column indices of each row's ``k`` largest scores, best first, ties to the
    lower index, and the (rows, k) scores themselves. ``k`` is capped at the row length.

    Filtered items are expected as ``-inf``: they come last and the caller drops them.
    """
    rows, width = scores.shape
    k = max(0, min(k, width))
    if rows == 0 or k == 0:
        return np.zeros((rows, k), dtype=np.int64), np.zeros((rows, k), dtype=scores.dtype)
    groups = max(k, min(GROUPS, width // 8))
    length = width // groups
    maxima = scores[:, : groups * length].reshape(rows, length, groups).max(axis=1)
    threshold = np.partition(maxima, groups - k, axis=1)[:, groups - k]
    if rows == 1:  # one request alone: fewer numpy calls, each costs microseconds here
        row = scores[0]
        found = np.flatnonzero(row >= threshold[0])
        if len(found) < k:
            return _by_partition(scores, k)
        best = found[np.argsort(-row[found], kind="stable")[:k]]
        return best[None], row[best][None]
    flat = np.flatnonzero(scores >= threshold[:, None])
    owner = flat // width
    counts = np.bincount(owner, minlength=rows)
    if (counts < k).any():
        # Only NaN scores can leave fewer than k at or above the threshold.
        return _by_partition(scores, k)
    values = scores.reshape(-1)[flat]
    # By row, then best first; lexsort is stable and flat is ascending, so ties keep index order.
    order = np.lexsort((-values, owner))
    starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts)[:-1]])
    picked = order[starts[:, None] + np.arange(k)]
    columns = flat[picked] - (np.arange(rows) * width)[:, None]
    return columns, values[picked]


def _by_partition(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    width = scores.shape[1]
    part = np.argpartition(scores, width - k, axis=1)[:, width - k :]
    chosen = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-chosen, axis=1, kind="stable")
    columns = np.take_along_axis(part, order, axis=1)
    return columns, np.take_along_axis(scores, columns, axis=1)


def top_k_candidates(
    table: np.ndarray,
    vectors: np.ndarray,
    candidates: np.ndarray,
    counts: Sequence[int],
    dropped: Sequence[np.ndarray],
    categories: np.ndarray,
    codes: Sequence[int] | None,
    k: int,
    also_dropped: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """For each row r of ``vectors``: the ``k`` best of its first ``counts[r]`` ``candidates``
    (row r of a 2-D array) by their ``table`` rows' product with the vector, best first (ties
    to the earlier candidate), and their scores; without ids outside the table, the
    ``dropped[r]`` and ``also_dropped[r]`` ones and (where ``codes[r]`` is not `ANY_CATEGORY`;
    None: no row's is) other categories. Also how many each row found: fewer than ``k`` when
    the filters leave fewer. Needs the compiled kernels, a C-contiguous float16 ``table`` and
    int32 ``categories``."""
    assert native is not None and table.dtype == np.float16 and table.flags.c_contiguous
    assert categories.dtype == np.int32
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    candidates = np.ascontiguousarray(candidates, dtype=np.int64)
    rows, width = candidates.shape
    ids = np.empty((rows, k), dtype=np.int64)
    scores = np.empty((rows, k), dtype=np.float32)
    found = np.empty(rows, dtype=np.int64)
    arguments = (table, len(table), table.shape[1], vectors, rows, candidates, width)
    outputs = (categories, codes, k, ids, scores, found)
    counts_array = np.asarray(counts, dtype=np.int64)
    try:
        native.rescore(*arguments, counts_array, dropped, also_dropped, *outputs)
    except TypeError:  # not int32 or int64 arrays: lists, say
        more = None if also_dropped is None else integer_groups(also_dropped)
        native.rescore(*arguments, counts_array, integer_groups(dropped), more, *outputs)
    return ids, scores, found.tolist()
