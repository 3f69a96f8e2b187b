"""The grouped top-k returns exactly what a full stable sort of each row would."""

from __future__ import annotations

import numpy as np
import pytest

from edgerec.serve._topk import top_k_rows


def sorted_reference(scores: np.ndarray, k: int) -> np.ndarray:
    # Best first, ties to the lower index: a stable sort of the negated scores.
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("width", [1, 7, 64, 2048, 12101])
@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("rows", [1, 5])
def test_matches_a_full_sort(width: int, k: int, rows: int) -> None:
    rng = np.random.default_rng(width * 1000 + k)
    scores = rng.standard_normal((rows, width)).astype(np.float32)
    columns, values = top_k_rows(scores, k)
    expected = sorted_reference(scores, k)
    np.testing.assert_array_equal(columns, expected)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))


def test_ties_and_filtered_items() -> None:
    rng = np.random.default_rng(0)
    # Few distinct values (popularity counts tie a lot) and most items filtered out.
    scores = rng.integers(0, 4, (6, 5000)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.9] = -np.inf
    scores[5] = -np.inf  # a row with nothing left
    columns, values = top_k_rows(scores, 50)
    np.testing.assert_array_equal(columns, sorted_reference(scores, 50))
    assert np.isneginf(values[5]).all()


def test_nan_rows_fall_back_to_a_partition() -> None:
    scores = np.arange(4000, dtype=np.float32)[None].repeat(2, axis=0)
    scores[1, ::3] = np.nan
    columns, _ = top_k_rows(scores, 5)
    np.testing.assert_array_equal(columns[0], [3999, 3998, 3997, 3996, 3995])
    assert len(columns[1]) == 5
    assert len(top_k_rows(scores[1:], 5)[0][0]) == 5


def test_empty_inputs() -> None:
    assert top_k_rows(np.zeros((0, 10), dtype=np.float32), 3)[0].shape == (0, 3)
    assert top_k_rows(np.zeros((2, 10), dtype=np.float32), 0)[0].shape == (2, 0)
