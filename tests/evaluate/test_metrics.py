from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgerec.evaluate import coverage, evaluate_ranking, hit_rate, mrr, ndcg, pessimistic_ranks
from edgerec.evaluate import top_k as top

ranks_strategy = st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=50)


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=2, max_value=30))
def test_perfect_ranking_scores_one(users: int, items: int) -> None:
    rng = np.random.default_rng(users * 31 + items)
    targets = rng.integers(0, items, users)
    scores = rng.random((users, items)).astype(np.float32)
    scores[np.arange(users), targets] = 2.0
    ranks = pessimistic_ranks(scores, targets)
    assert np.all(ranks == 0)
    for k in (1, 5, 10):
        assert hit_rate(ranks, k) == 1.0
        assert ndcg(ranks, k) == 1.0
    assert mrr(ranks) == 1.0


@given(ranks_strategy, st.integers(min_value=1, max_value=50))
def test_metric_bounds_and_ordering(values: list[int], k: int) -> None:
    ranks = np.array(values)
    assert 0.0 <= ndcg(ranks, k) <= hit_rate(ranks, k) <= 1.0
    assert hit_rate(ranks, k) <= hit_rate(ranks, k + 1)
    assert ndcg(ranks, k) <= ndcg(ranks, k + 1)
    assert 0.0 < mrr(ranks) <= 1.0


def test_ties_never_favour_the_target() -> None:
    scores = np.zeros((1, 100), dtype=np.float32)
    assert pessimistic_ranks(scores, np.array([0]))[0] == 99
    scores[0, 5] = 1.0
    scores[0, 7] = 1.0
    assert pessimistic_ranks(scores, np.array([7]))[0] == 1


def test_known_values() -> None:
    ranks = np.array([0, 1, 9, 10])
    assert hit_rate(ranks, 10) == 0.75
    expected = (1.0 + 1 / np.log2(3) + 1 / np.log2(11)) / 4
    assert abs(ndcg(ranks, 10) - expected) < 1e-12
    assert coverage(np.array([[1, 2], [2, 3]]), 10) == 0.3


def test_top_k_orders_best_first() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.9]], dtype=np.float32)
    assert top(scores, 3).tolist() == [[1, 3, 2]]


def test_protocol_masks_seen_items_and_nan() -> None:
    # Item 0 scores highest but is already seen; NaN items must not outrank the target.
    scores = np.array([[5.0, 1.0, np.nan, 0.5]], dtype=np.float32)
    result = evaluate_ranking(lambda batch: scores, [np.array([0])], np.array([1]), 4)
    assert result["HR@5"] == 1.0 and result["NDCG@5"] == 1.0
    unmasked = evaluate_ranking(
        lambda batch: scores, [np.array([0])], np.array([1]), 4, mask_seen=False
    )
    assert unmasked["MRR"] == 0.5


def test_constant_scorer_is_no_better_than_last() -> None:
    result = evaluate_ranking(
        lambda batch: np.zeros((len(batch), 50)), [np.array([1])] * 10, np.arange(10) + 2, 50
    )
    assert result["HR@20"] == 0.0
