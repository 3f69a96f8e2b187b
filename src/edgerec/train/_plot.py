"""Training-curve plot (PNG): loss and validation NDCG@10 per epoch."""

from __future__ import annotations

from pathlib import Path

from edgerec.errors import MissingExtraError


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        raise MissingExtraError("the training-curve plot", "train", "matplotlib") from None
    epochs = [row["epoch"] for row in history]
    figure, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(epochs, [row["loss"] for row in history], color="tab:blue", label="train loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("cross-entropy loss", color="tab:blue")
    if any("valid_NDCG@10" in row for row in history):
        metric_axis = loss_axis.twinx()
        metric_axis.plot(
            epochs,
            [row.get("valid_NDCG@10", float("nan")) for row in history],
            color="tab:red",
            label="valid NDCG@10",
        )
        metric_axis.set_ylabel("validation NDCG@10", color="tab:red")
    loss_axis.set_title("edgerec training curve")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
