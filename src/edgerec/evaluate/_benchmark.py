"""The `edgerec evaluate` table: baselines and artifacts beside the published rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgerec.artifact import load_artifact
from edgerec.data import SequenceData, leave_one_out
from edgerec.errors import ArtifactError
from edgerec.evaluate._protocol import evaluate_ranking
from edgerec.evaluate._published import published_rows
from edgerec.evaluate._report import format_table


def benchmark_table(
    data: SequenceData, artifacts: Sequence[Path], published: str, split: str = "test"
) -> str:
    """Popularity (both counting scopes), transitions and every artifact on ``split``."""
    from edgerec.train._config import TransitionConfig
    from edgerec.train._counting import fit_popularity, fit_transitions

    loo = leave_one_out(data)
    histories, targets = loo.inputs(data.sequences, split)
    ours: dict[str, dict[str, float]] = {}
    leaky = fit_popularity(data.sequences, data.num_items)
    ours["Pop, S3-Rec protocol (counts test events)"] = evaluate_ranking(
        leaky.score, histories, targets, data.num_items
    )
    honest = fit_popularity(loo.train, data.num_items)
    ours["Pop (training events only)"] = evaluate_ranking(
        honest.score, histories, targets, data.num_items
    )
    transitions = fit_transitions(loo.train, data.num_items, TransitionConfig(), honest.counts)
    ours["Transitions (edgerec defaults)"] = evaluate_ranking(
        transitions.score, histories, targets, data.num_items
    )
    for directory in artifacts:
        model = load_artifact(directory)
        if model.manifest["data"]["fingerprint"] != data.fingerprint:
            raise ArtifactError(
                f"{directory}: trained on other data (fingerprint differs); its test items "
                "may have been training items, so scoring it here would not be honest"
            )
        if "refit" in model.manifest["config"]:
            raise ArtifactError(
                f"{directory}: refit on every event (train --refit), this split's targets "
                "included, so scoring it here would not be honest; evaluate the artifact "
                "trained without --refit"
            )
        # Map this run's dense ids onto the artifact's vocabulary (same ids, maybe other order).
        remap = model.vocab.positions(data.vocab.ids)
        if (remap < 0).any():
            raise ArtifactError(f"{directory}: vocabulary lacks items of this data")
        mapped = [remap[history] for history in histories]
        ours[f"{model.manifest['model_type']} ({directory.name})"] = evaluate_ranking(
            model.scorer.score, mapped, remap[targets], data.num_items
        )
    title = (
        f"{split} split, full ranking over {data.num_items} items, seen items masked, "
        f"{len(targets)} users"
    )
    return format_table(ours, published_rows(published), title)
