"""Pure metric functions and the papers' full-ranking protocol."""

from edgerec.evaluate._metrics import coverage, hit_rate, mrr, ndcg, pessimistic_ranks, top_k
from edgerec.evaluate._protocol import CUTOFFS, ScoreFn, evaluate_ranking, rank_targets
from edgerec.evaluate._published import PUBLISHED, PUBLISHED_COLUMNS, published_rows

__all__ = [
    "CUTOFFS",
    "PUBLISHED",
    "PUBLISHED_COLUMNS",
    "ScoreFn",
    "coverage",
    "evaluate_ranking",
    "hit_rate",
    "mrr",
    "ndcg",
    "pessimistic_ranks",
    "published_rows",
    "rank_targets",
    "top_k",
]
