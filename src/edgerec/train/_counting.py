"""Fitting the counting models (popularity, item-to-item transitions) with numpy only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgerec.infer._scorers import PopularityScorer, TransitionScorer
from edgerec.train._config import TransitionConfig


def fit_popularity(sequences: Sequence[np.ndarray], num_items: int) -> PopularityScorer:
    counts = np.zeros(num_items, dtype=np.float64)
    if sequences:
        np.add.at(counts, np.concatenate(sequences).astype(np.int64), 1.0)
    return PopularityScorer(counts.astype(np.float32))


def fit_transitions(
    sequences: Sequence[np.ndarray],
    num_items: int,
    config: TransitionConfig,
    prior: np.ndarray | None = None,
) -> TransitionScorer:
    """Count (item -> item j steps later) pairs for j <= window with weight decay**(j-1).

    Each row is normalised to sum to 1 and cut to its ``top_neighbors`` strongest entries.
    ``prior``: popularity counts that order the items the transitions leave tied.
    """
    sources, targets, weights = [], [], []
    for sequence in sequences:
        seq = np.asarray(sequence, dtype=np.int64)
        for step in range(1, config.window + 1):
            if len(seq) <= step:
                break
            weight = config.decay ** (step - 1)
            sources.append(seq[:-step])
            targets.append(seq[step:])
            weights.append(np.full(len(seq) - step, weight))
            if config.reverse_weight > 0:
                sources.append(seq[step:])
                targets.append(seq[:-step])
                weights.append(np.full(len(seq) - step, weight * config.reverse_weight))
    if not sources:
        empty = np.zeros(0)
        return TransitionScorer(
            np.zeros(num_items + 1),
            empty,
            empty,
            num_items,
            config.history_len,
            config.history_decay,
            prior,
        )
    keys = np.concatenate(sources) * num_items + np.concatenate(targets)
    unique, inverse = np.unique(keys, return_inverse=True)
    summed = np.bincount(inverse, weights=np.concatenate(weights))
    rows, cols = unique // num_items, unique % num_items
    # Order entries by (row, weight desc) so the first top_neighbors of each row are kept.
    order = np.lexsort((-summed, rows))
    rows, cols, summed = rows[order], cols[order], summed[order]
    starts = np.searchsorted(rows, np.arange(num_items))
    rank_in_row = np.arange(len(rows)) - starts[rows]
    keep = rank_in_row < config.top_neighbors
    rows, cols, summed = rows[keep], cols[keep], summed[keep]
    totals = np.bincount(rows, weights=summed, minlength=num_items)
    data = summed / totals[rows]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=num_items))])
    return TransitionScorer(
        indptr, cols, data, num_items, config.history_len, config.history_decay, prior
    )
