"""Offline training. Importing this package does not import PyTorch; fitting SASRec does."""

from edgerec.train._config import (
    HybridConfig,
    PopularityConfig,
    SASRecConfig,
    TransitionConfig,
    to_dict,
)
from edgerec.train._counting import fit_popularity, fit_transitions
from edgerec.train._pipeline import MODELS, TrainOutcome, train_model

__all__ = [
    "MODELS",
    "HybridConfig",
    "PopularityConfig",
    "SASRecConfig",
    "TrainOutcome",
    "TransitionConfig",
    "fit_popularity",
    "fit_transitions",
    "to_dict",
    "train_model",
]
