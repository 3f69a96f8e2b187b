"""data -> fit -> validate -> export: the whole offline half for one model type."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgerec.artifact import quantize_int8, write_artifact
from edgerec.data import SequenceData, leave_one_out
from edgerec.errors import ConfigError, DataError
from edgerec.evaluate import evaluate_ranking, ndcg, rank_targets
from edgerec.infer import (
    HybridScorer,
    PopularityScorer,
    SASRecEncoder,
    SASRecScorer,
    Scorer,
    TransitionScorer,
    fuse,
    softmax_rows,
)
from edgerec.infer._ann import build_item_index, default_ann_min_items
from edgerec.train._config import (
    HybridConfig,
    PopularityConfig,
    SASRecConfig,
    TransitionConfig,
    to_dict,
)
from edgerec.train._counting import fit_popularity, fit_transitions
from edgerec.train._plot import plot_history

if TYPE_CHECKING:
    from edgerec.train._sasrec_fit import FitResult

logger = logging.getLogger(__name__)
MODELS = ("popularity", "transitions", "sasrec", "hybrid")


@dataclass
class TrainOutcome:
    scorer: Scorer
    manifest: dict[str, Any]
    valid: dict[str, float]
    test: dict[str, float] | None
    history: list[dict[str, float]]
    net: Any = None
    """The trained PyTorch module (sasrec/hybrid), for parity checks; None otherwise."""


def train_model(
    data: SequenceData,
    model: str,
    out: Path | None,
    *,
    sasrec: SASRecConfig | None = None,
    transitions: TransitionConfig | None = None,
    popularity: PopularityConfig | None = None,
    fusion_weights: Sequence[float] = (),
    score_test: bool = True,
    progress: bool = True,
    ann_min_items: int | None = None,
    refit: bool = False,
) -> TrainOutcome:
    """Fit ``model`` on the training split, pick settings on validation, score test once.

    Args:
        data: all sequences; leave-one-out is applied here.
        model: one of ``MODELS``.
        out: artifact directory to write (None: do not export).
        fusion_weights: hybrid candidates; defaults to ``HybridConfig().weights``.
        score_test: compute test metrics at the very end (never used for any choice).
        ann_min_items: export an ANN index when the catalog has at least this many items
            (None: `default_ann_min_items` of ``model``).
        refit: once the settings are chosen (and the held-out events scored), fit again on
            every event with them (sasrec: for the chosen number of epochs) and export that
            model: leave-one-out holds out each user's two newest events, which in a shop's
            short sessions are a large share of its freshest data.
    """
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    split = leave_one_out(data)
    if not len(split.valid_users):
        raise DataError(
            "no user has 3 or more events: leave-one-out needs them for validation and test",
            path=data.source or None,
        )
    valid_h, valid_t = split.inputs(data.sequences, "valid")
    pop_config = popularity or PopularityConfig()
    trans_config = transitions or TransitionConfig()
    sas_config = sasrec or SASRecConfig()
    config: dict[str, Any] = {"popularity": to_dict(pop_config)}
    if model in ("transitions", "hybrid"):
        config["transitions"] = to_dict(trans_config)
    if model in ("sasrec", "hybrid"):
        config["sasrec"] = to_dict(sas_config)
    counted = data.sequences if pop_config.count_scope == "all" else split.train
    parts = _fit(model, split.train, counted, data.num_items, trans_config, sas_config,
                 (valid_h, valid_t), progress)  # fmt: skip
    if parts.fitted is not None:
        config["best_epoch"] = parts.fitted.best_epoch
        config["train_seconds"] = round(parts.fitted.seconds, 1)
    weight = 0.0
    if model == "hybrid":
        assert parts.trans is not None and parts.sequential is not None
        weight, sweep = _choose_weight(
            parts.sequential,
            parts.trans,
            valid_h,
            valid_t,
            fusion_weights or HybridConfig().weights,
        )
        config["hybrid_weight"] = weight
        config["hybrid_sweep"] = sweep
    scorer = parts.scorer(weight)
    valid = evaluate_ranking(scorer.score, valid_h, valid_t, data.num_items)
    test = None
    if score_test:
        test_h, test_t = split.inputs(data.sequences, "test")
        test = evaluate_ranking(scorer.score, test_h, test_t, data.num_items)
    history = parts.fitted.history if parts.fitted is not None else []
    net = parts.fitted.net if parts.fitted is not None else None
    if refit:
        # The metrics above stay those of the held-out fit: no event is left to score the
        # refit on.
        epochs = max(1, parts.fitted.best_epoch if parts.fitted is not None else 1)
        again = dataclasses.replace(sas_config, epochs=epochs)
        parts = _fit(model, data.sequences, data.sequences, data.num_items, trans_config,
                     again, None, progress)  # fmt: skip
        scorer = parts.scorer(weight)
        config["refit"] = {"interactions": data.num_interactions}
        if parts.fitted is not None:
            config["refit"].update(epochs=epochs, train_seconds=round(parts.fitted.seconds, 1))
            net = parts.fitted.net
    metrics: dict[str, Any] = {"valid": valid, "test": test}
    info: dict[str, Any] = {
        "dimensions": _dimensions(parts.sequential),
        "data": {
            "fingerprint": data.fingerprint,
            "users": len(data.users),
            "interactions": data.num_interactions,
        },
        "metrics": metrics,
    }
    manifest: dict[str, Any] = {"model_type": model, "config": config, **info}
    if out is not None:
        if ann_min_items is None:
            ann_min_items = default_ann_min_items(model)
        arrays, archives = _export_arrays(
            parts.pop.counts, parts.trans, parts.sequential, ann_min_items
        )
        manifest = write_artifact(
            out,
            model_type=model,
            config=config,
            item_ids=data.vocab.ids,
            arrays=arrays,
            archives=archives,
            info=info,
            extras=lambda staging: _write_reports(staging, history, metrics),
        )
    logger.info("%s valid %s test %s", model, valid, test)
    return TrainOutcome(scorer, manifest, valid, test, history, net)


@dataclass
class _Parts:
    """The fitted pieces of one model; ``scorer`` puts them together."""

    pop: PopularityScorer
    trans: TransitionScorer | None = None
    sequential: SASRecScorer | None = None
    fitted: FitResult | None = None

    def scorer(self, hybrid_weight: float) -> Scorer:
        if self.sequential is not None and self.trans is not None:
            return HybridScorer(self.sequential, self.trans, hybrid_weight)
        return self.sequential or self.trans or self.pop


def _fit(
    model: str,
    sequences: list[np.ndarray],
    counted: list[np.ndarray],
    num_items: int,
    trans_config: TransitionConfig,
    sas_config: SASRecConfig,
    valid: tuple[list[np.ndarray], np.ndarray] | None,
    progress: bool,
) -> _Parts:
    """Popularity from ``counted``, the rest of ``model`` from ``sequences``; sasrec stops
    early on ``valid`` (histories, targets) when given, else runs its epochs."""
    parts = _Parts(fit_popularity(counted, num_items))
    if model in ("transitions", "hybrid"):
        # A prior for the transitions model alone: the hybrid adds them to probabilities.
        prior = parts.pop.counts if model == "transitions" else None
        parts.trans = fit_transitions(sequences, num_items, trans_config, prior)
    if model in ("sasrec", "hybrid"):
        from edgerec.train._sasrec_fit import fit_sasrec

        histories, targets = valid if valid is not None else (None, None)
        fitted = fit_sasrec(sequences, num_items, sas_config, histories, targets, progress)
        table = fitted.net.item_table().detach().numpy().astype(np.float32)
        encoder = SASRecEncoder(
            fitted.net.export_weights(),
            table.astype(np.float16).astype(np.float32),
            sas_config.num_layers,
            sas_config.num_heads,
        )
        parts.sequential = SASRecScorer(encoder)
        parts.fitted = fitted
    return parts


def _choose_weight(
    sequential: SASRecScorer,
    trans: TransitionScorer,
    histories: list[np.ndarray],
    targets: np.ndarray,
    weights: Sequence[float],
) -> tuple[float, dict[str, float]]:
    """Validation NDCG@10 of every candidate weight; each user is encoded once for all of them."""
    ranks: dict[float, list[np.ndarray]] = {weight: [] for weight in weights}
    for start in range(0, len(histories), 512):
        batch = histories[start : start + 512]
        probabilities = softmax_rows(sequential.score(batch), inplace=True)
        transition = trans.score(batch)
        for weight in weights:
            fused = fuse(probabilities, transition, weight)
            ranks[weight].append(rank_targets(fused, batch, targets[start : start + 512]))
    sweep = {str(weight): ndcg(np.concatenate(found), 10) for weight, found in ranks.items()}
    best = max(sweep, key=lambda key: sweep[key])
    return float(best), sweep


def _dimensions(sequential: SASRecScorer | None) -> dict[str, int]:
    if sequential is None:
        return {}
    return {"embedding_size": sequential.encoder.dim, "max_len": sequential.encoder.max_len}


def _export_arrays(
    counts: np.ndarray,
    trans: TransitionScorer | None,
    sequential: SASRecScorer | None,
    ann_min_items: int,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    arrays: dict[str, np.ndarray] = {"popularity": counts}
    archives: dict[str, dict[str, np.ndarray]] = {}
    if trans is not None:
        arrays.update(
            transitions_indptr=trans.indptr,
            transitions_indices=trans.indices,
            transitions_data=trans.data,
        )
    if sequential is not None:
        table = sequential.item_embeddings
        quantized, scales = quantize_int8(table)
        arrays.update(
            item_emb_f16=table.astype(np.float16), item_emb_i8=quantized, item_emb_scales=scales
        )
        archives["encoder"] = sequential.encoder.w
        if sequential.num_items >= ann_min_items:
            arrays.update(build_item_index(table))
    return arrays, archives


def _write_reports(
    directory: Path, history: list[dict[str, float]], metrics: dict[str, Any]
) -> None:
    """metrics.json and training_curve.png beside the artifact files (not part of the digests)."""
    (directory / "metrics.json").write_text(
        json.dumps({"history": history, **metrics}, indent=2), encoding="utf-8"
    )
    if history:
        plot_history(history, directory / "training_curve.png")
