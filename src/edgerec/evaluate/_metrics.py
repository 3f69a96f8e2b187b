"""Pure rank-based metric functions.

A *rank* is the 0-based position of the true item in a user's ranked list: 0 means first.
"""

from __future__ import annotations

import numpy as np


def pessimistic_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target, counting every tied item as ranked above it.

    Args:
        scores: (users, items) scores; excluded items should hold ``-inf``.
        targets: (users,) index of the true item per row.

    Returns:
        (users,) int64 ranks. Ties never favour the true item: a constant scorer ranks the
        target last among its ties, so it cannot look better than chance.
    """
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets][:, None]
    at_least = (scores >= target_scores).sum(axis=1)
    ranks: np.ndarray = (at_least - 1).astype(np.int64)
    return ranks


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Share of users whose true item is in the top ``k``."""
    return float(np.mean(ranks < k)) if len(ranks) else 0.0


def ndcg(ranks: np.ndarray, k: int) -> float:
    """NDCG@k with one relevant item: 1/log2(rank+2) inside the top ``k``, else 0."""
    if not len(ranks):
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(ranks.astype(np.float64) + 2.0), 0.0)
    return float(np.mean(gains))


def mrr(ranks: np.ndarray) -> float:
    """Mean reciprocal rank over the full ranking (no cut-off)."""
    return float(np.mean(1.0 / (ranks.astype(np.float64) + 1.0))) if len(ranks) else 0.0


def coverage(top_items: np.ndarray, num_items: int) -> float:
    """Share of the catalog that appears in at least one user's recommended list."""
    if num_items <= 0:
        return 0.0
    return float(len(np.unique(top_items)) / num_items)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """(users, k) indices of the highest scores per row, best first; ties go to lower index."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)
