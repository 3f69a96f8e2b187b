"""Row softmax: the unshifted fast path and the shifted one give the float64 reference."""

from __future__ import annotations

import numpy as np
import pytest

from edgerec.infer import softmax_rows


def _reference(scores: np.ndarray) -> np.ndarray:
    wide = scores.astype(np.float64)
    wide = np.exp(wide - wide.max(axis=1, keepdims=True))
    return wide / wide.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    "offset",
    [
        0.0,  # maxima in [0, 60]: exp of the raw scores
        500.0,  # exp(500) overflows float32: must be shifted
        -200.0,  # exp(-200) underflows to 0: must be shifted
    ],
)
def test_softmax_matches_the_reference(offset: float) -> None:
    rng = np.random.default_rng(0)
    scores = (rng.normal(scale=8.0, size=(5, 3000)) + 20.0 + offset).astype(np.float32)
    probabilities = softmax_rows(scores)
    np.testing.assert_allclose(probabilities, _reference(scores), rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_one_row_out_of_range_shifts_the_batch_and_inplace_reuses_the_matrix() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [100.0, 99.0, 98.0]], dtype=np.float32)
    expected = _reference(scores)
    out = softmax_rows(scores, inplace=True)
    assert out is scores
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_an_empty_batch_gives_an_empty_matrix() -> None:
    assert softmax_rows(np.zeros((0, 4), dtype=np.float32)).shape == (0, 4)
