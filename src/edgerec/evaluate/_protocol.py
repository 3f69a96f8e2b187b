"""The full-ranking leave-one-out protocol of the sequential-recommendation papers.

Every item is scored, the user's already-seen items are excluded, and the metrics are
averaged over all evaluated users (issue 2, "Evaluation: the papers' protocol, exactly").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edgerec.evaluate._metrics import coverage, hit_rate, mrr, ndcg, pessimistic_ranks, top_k

CUTOFFS = (5, 10, 20)
ScoreFn = Callable[[Sequence[np.ndarray]], np.ndarray]
"""Maps a batch of histories (item-index arrays) to a (batch, num_items) score matrix."""


def rank_targets(
    scores: np.ndarray, histories: Sequence[np.ndarray], targets: np.ndarray, mask_seen: bool = True
) -> np.ndarray:
    """Pessimistic 0-based rank of each target; masks ``scores`` in place."""
    # NaN would make every comparison false and silently rank the target first.
    scores[np.isnan(scores)] = -np.inf
    if mask_seen:
        for row, history in enumerate(histories):
            scores[row, history] = -np.inf
    return pessimistic_ranks(scores, targets)


def evaluate_ranking(
    score: ScoreFn,
    histories: Sequence[np.ndarray],
    targets: np.ndarray,
    num_items: int,
    *,
    mask_seen: bool = True,
    batch_size: int = 512,
) -> dict[str, float]:
    """HR@5/10/20, NDCG@5/10/20, MRR and catalog coverage@10 of ``score`` on one split.

    Args:
        score: the model's batch scorer.
        histories: the input sequence of each evaluated user.
        targets: (users,) the held-out item per user.
        num_items: catalog size.
        mask_seen: exclude each user's history from the ranking, as the papers' code does.
        batch_size: users scored at once (bounds memory at batch_size * num_items floats).
    """
    ranks = np.empty(len(targets), dtype=np.int64)
    tops = []
    for start in range(0, len(targets), batch_size):
        batch = histories[start : start + batch_size]
        scores = np.array(score(batch), dtype=np.float32)
        if scores.shape != (len(batch), num_items):
            raise ValueError(
                f"scorer returned shape {scores.shape}, want {(len(batch), num_items)}"
            )
        ranks[start : start + len(batch)] = rank_targets(
            scores, batch, targets[start : start + len(batch)], mask_seen
        )
        tops.append(top_k(scores, 10))
    metrics = {f"HR@{k}": hit_rate(ranks, k) for k in CUTOFFS}
    metrics.update({f"NDCG@{k}": ndcg(ranks, k) for k in CUTOFFS})
    metrics["MRR"] = mrr(ranks)
    metrics["coverage@10"] = coverage(np.concatenate(tops) if tops else np.empty(0), num_items)
    return metrics
