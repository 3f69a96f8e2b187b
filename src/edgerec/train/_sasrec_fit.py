"""Training loop for the SASRec-family model: full-softmax cross-entropy at every position."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from edgerec.errors import ModelFitError
from edgerec.evaluate import ScoreFn, evaluate_ranking
from edgerec.train._config import SASRecConfig
from edgerec.train._packing import pack
from edgerec.train._sasrec_torch import SASRecNet

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    net: SASRecNet
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def torch_scorer(net: SASRecNet) -> ScoreFn:
    """A batch scorer (histories -> scores) running the torch model in eval mode.

    Histories are packed (as in training); an empty one gets the zero vector, as the numpy
    encoder gives it.
    """

    def score(histories: Sequence[np.ndarray]) -> np.ndarray:
        users = torch.zeros(len(histories), net.item_emb.embedding_dim)
        kept = [index for index, history in enumerate(histories) if len(history)]
        with torch.no_grad():
            if kept:
                rows = pack(
                    [histories[i][-net.max_len :] for i in kept], net.max_len, net.num_items
                )
                hidden = net(
                    torch.from_numpy(rows.items),
                    torch.from_numpy(rows.positions),
                    torch.from_numpy(rows.segments),
                )
                users[kept] = hidden[rows.last_row, rows.last_slot]
            scores: np.ndarray = (users @ net.item_table().T).numpy()
        return scores

    return score


def fit_sasrec(
    train: Sequence[np.ndarray],
    num_items: int,
    config: SASRecConfig,
    valid_histories: Sequence[np.ndarray] | None = None,
    valid_targets: np.ndarray | None = None,
    progress: bool = True,
) -> FitResult:
    """Train on ``train`` sequences; early-stop on validation NDCG@10 when given.

    Raises:
        ModelFitError: no sequence has two items, or the loss became NaN.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    usable = [s for s in train if len(s) >= 2]
    if not usable:
        raise ModelFitError("no training sequence has two or more items")
    inputs = [s[:-1][-config.max_len :] for s in usable]
    targets = [s[1:][-config.max_len :] for s in usable]
    net = SASRecNet(
        num_items,
        config.embedding_size,
        config.max_len,
        config.num_layers,
        config.num_heads,
        config.dropout,
        config.attn_dropout,
    )
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.reg
    )
    result = FitResult(net=net)
    best_score, best_state, stale = -1.0, copy.deepcopy(net.state_dict()), 0
    started = time.monotonic()
    bar = tqdm(range(1, config.epochs + 1), disable=not progress, unit="epoch", desc="sasrec")
    for epoch in bar:
        net.train()
        total, count = 0.0, 0
        order = rng.permutation(len(usable))
        # Random batches: length-sorted buckets overfit within a dozen epochs (validation
        # NDCG@10 peaked at .060 vs .069 on Beauty). Packing keeps each batch's users and
        # drops its padding instead.
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            rows = pack(
                [inputs[i] for i in batch],
                config.max_len,
                num_items,
                [targets[i] for i in batch],
            )
            tgt = torch.from_numpy(rows.targets)
            hidden = net(
                torch.from_numpy(rows.items),
                torch.from_numpy(rows.positions),
                torch.from_numpy(rows.segments),
            )
            keep = tgt != num_items
            # Score only real positions: the item table product is the largest one.
            logits = hidden[keep] @ net.item_table().T
            loss = F.cross_entropy(logits, tgt[keep])
            if not torch.isfinite(loss):
                raise ModelFitError(f"loss became {loss.item()} at epoch {epoch}")
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += loss.item() * int(keep.sum())
            count += int(keep.sum())
        row = {"epoch": float(epoch), "loss": total / count, "seconds": time.monotonic() - started}
        if valid_histories is not None and valid_targets is not None:
            net.eval()
            metrics = evaluate_ranking(
                torch_scorer(net),
                valid_histories,
                valid_targets,
                num_items,
            )
            row.update({f"valid_{name}": value for name, value in metrics.items()})
            score = metrics["NDCG@10"]
            if score > best_score:
                best_score, best_state, stale = score, copy.deepcopy(net.state_dict()), 0
                result.best_epoch = epoch
            else:
                stale += 1
        else:
            best_state, result.best_epoch = copy.deepcopy(net.state_dict()), epoch
        result.history.append(row)
        bar.set_postfix(
            loss=f"{row['loss']:.3f}", ndcg10=f"{row.get('valid_NDCG@10', float('nan')):.4f}"
        )
        logger.info(
            "epoch %d loss %.4f valid NDCG@10 %s", epoch, row["loss"], row.get("valid_NDCG@10")
        )
        if stale >= config.patience:
            break
        if row["seconds"] > config.max_minutes * 60:
            logger.warning("time budget of %.1f min reached at epoch %d", config.max_minutes, epoch)
            break
    net.load_state_dict(best_state)
    net.eval()
    result.seconds = time.monotonic() - started
    return result
