"""Typed, JSON-dumpable hyper-parameter configs, kept apart from learned state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from edgerec.errors import ConfigError


@dataclass(frozen=True)
class PopularityConfig:
    """Item popularity.

    Attributes:
        count_scope: "train" counts training events only (honest, the default); "all" also counts
            the held-out validation and test events, which is what the S3-Rec Pop row did and is
            used only to reproduce that published number.
    """

    count_scope: str = "train"

    def __post_init__(self) -> None:
        if self.count_scope not in ("train", "all"):
            raise ConfigError("popularity count_scope must be 'train' or 'all'")


@dataclass(frozen=True)
class TransitionConfig:
    """Item-to-item transitions: which items follow which, within a short window.

    Attributes:
        window: how many following items count as a transition from an item.
        decay: weight of the j-th following item is decay**(j-1).
        reverse_weight: also count (later -> earlier) pairs at this fraction of the forward weight;
            same-day purchases are often logged in arbitrary order.
        history_decay: at scoring time, the i-th most recent history item weighs history_decay**i.
        history_len: how many recent history items are used at scoring time.
        top_neighbors: neighbours kept per item (bounds artifact size).
    """

    window: int = 5
    decay: float = 0.7
    reverse_weight: float = 0.3
    history_decay: float = 0.5
    history_len: int = 5
    top_neighbors: int = 200

    def __post_init__(self) -> None:
        _positive("window", self.window)
        _positive("history_len", self.history_len)
        _positive("top_neighbors", self.top_neighbors)
        _unit("decay", self.decay)
        _unit("reverse_weight", self.reverse_weight)
        _unit("history_decay", self.history_decay)


@dataclass(frozen=True)
class SASRecConfig:
    """Causal-transformer sequential model trained with full-softmax cross-entropy.

    Attributes:
        embedding_size: hidden size d.
        num_layers: transformer blocks.
        num_heads: attention heads (must divide embedding_size).
        max_len: longest history the encoder reads.
        dropout: dropout on embeddings and block outputs.
        attn_dropout: dropout on attention weights.
        learning_rate: Adam step size.
        reg: decoupled weight decay (AdamW).
        batch_size: sequences per step.
        epochs: upper bound on passes over the data.
        patience: evaluations without a validation NDCG@10 gain before stopping.
        max_minutes: wall-clock budget for training; stops early and keeps the best epoch.
        seed: seeds torch and numpy generators for reproducible runs.
        threads: torch intra-op threads (0 = leave torch's default).
    """

    embedding_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    max_len: int = 50
    dropout: float = 0.3
    attn_dropout: float = 0.3
    learning_rate: float = 1e-3
    reg: float = 0.0
    batch_size: int = 128
    epochs: int = 200
    patience: int = 10
    max_minutes: float = 13.0
    seed: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        for name in (
            "embedding_size",
            "num_layers",
            "num_heads",
            "max_len",
            "batch_size",
            "epochs",
            "patience",
        ):
            _positive(name, getattr(self, name))
        if self.embedding_size % self.num_heads:
            raise ConfigError("num_heads must divide embedding_size")
        _unit("dropout", self.dropout, closed=False)
        _unit("attn_dropout", self.attn_dropout, closed=False)
        if self.learning_rate <= 0 or self.reg < 0 or self.max_minutes <= 0:
            raise ConfigError("learning_rate and max_minutes must be > 0, reg >= 0")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0: torch's default), got {self.threads}")


@dataclass(frozen=True)
class HybridConfig:
    """SASRec scores fused with transition scores: softmax(sasrec) + weight * transitions.

    Attributes:
        weights: candidate fusion weights, chosen by validation NDCG@10.
    """

    sasrec: SASRecConfig = field(default_factory=SASRecConfig)
    transitions: TransitionConfig = field(default_factory=TransitionConfig)
    weights: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _positive(name: str, value: int) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value}")


def _unit(name: str, value: float, closed: bool = True) -> None:
    ok = 0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0
    if not ok:
        raise ConfigError(f"{name} must be in [0, 1{']' if closed else ')'}, got {value}")
