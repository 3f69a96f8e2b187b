"""Inference: the serving half of every model (numpy and optional compiled kernels, no PyTorch)."""

from edgerec.infer._half import gather_float32, row_blocks, row_norms, to_float32
from edgerec.infer._sasrec import SASRecEncoder
from edgerec.infer._scorers import (
    HybridScorer,
    PopularityScorer,
    SASRecScorer,
    Scorer,
    TransitionScorer,
    fuse,
    softmax_rows,
)

__all__ = [
    "HybridScorer",
    "PopularityScorer",
    "SASRecEncoder",
    "SASRecScorer",
    "Scorer",
    "TransitionScorer",
    "fuse",
    "gather_float32",
    "row_blocks",
    "row_norms",
    "softmax_rows",
    "to_float32",
]
