"""Loading an artifact into numpy scorers, after verifying every file digest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgerec.artifact._manifest import check_digest, read_manifest, verify_files
from edgerec.data._vocab import ArrayVocabulary
from edgerec.errors import ArtifactError
from edgerec.infer._ann import ANN_ARRAYS, ItemIndex
from edgerec.infer._sasrec import SASRecEncoder
from edgerec.infer._scorers import (
    HybridScorer,
    PopularityScorer,
    SASRecScorer,
    Scorer,
    TransitionScorer,
)

PRECISIONS = ("float16", "int8")
# The other precision's copy of the item embeddings, which a load never opens.
_UNREAD = {
    "float16": ("item_emb_i8.npy", "item_emb_scales.npy"),
    "int8": ("item_emb_f16.npy",),
}


@dataclass(frozen=True)
class LoadedModel:
    """A verified artifact: the model's scorer, the popularity fallback and the vocabulary."""

    manifest: dict[str, Any]
    vocab: ArrayVocabulary
    scorer: Scorer
    popularity: PopularityScorer
    ann: ItemIndex | None = None
    """Approximate retrieval index over the item embeddings (large catalogs only)."""


def load_artifact(
    directory: str | Path, precision: str = "float16", expected_digest: str | None = None
) -> LoadedModel:
    """Verify and load ``directory``.

    Args:
        precision: which stored item-embedding copy to score with ("float16" or "int8").
        expected_digest: if given, refuse any artifact whose `artifact_digest` differs.

    Raises:
        ArtifactError: missing, truncated, tampered or inconsistent files.
    """
    if precision not in PRECISIONS:
        raise ArtifactError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    root = Path(directory)
    manifest = read_manifest(root)
    if expected_digest:
        check_digest(root, manifest, expected_digest)
    verify_files(root, manifest, unread=_UNREAD[precision])
    try:
        return _build(root, manifest, precision)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            f"{root}: inconsistent artifact ({type(exc).__name__}: {exc})"
        ) from None


def _array(root: Path, name: str) -> np.ndarray:
    array: np.ndarray = np.load(root / f"{name}.npy", mmap_mode="r", allow_pickle=False)
    return array


def _build(root: Path, manifest: dict[str, Any], precision: str) -> LoadedModel:
    vocab = ArrayVocabulary(
        _array(root, "items"), _array(root, "items_sorted"), _array(root, "items_sorted_index")
    )
    num_items = int(manifest["num_items"])
    if len(vocab) != num_items:
        raise ArtifactError(f"{root}: vocabulary has {len(vocab)} ids, manifest says {num_items}")
    popularity = PopularityScorer(np.asarray(_array(root, "popularity")))
    kind = manifest["model_type"]
    config = manifest["config"]
    scorer: Scorer
    if kind == "popularity":
        scorer = popularity
    elif kind == "transitions":
        scorer = _transitions(root, config["transitions"], num_items, popularity.counts)
    else:
        large = _has_ann(manifest)
        half = _array(root, "item_emb_f16") if precision == "float16" else None
        sequential = SASRecScorer(_encoder(root, config["sasrec"], half, large), half)
        scorer = sequential
        if kind == "hybrid":
            # No prior: the hybrid adds the transitions to the sequential model's scores.
            transitions = _transitions(root, config["transitions"], num_items, None)
            scorer = HybridScorer(sequential, transitions, float(config["hybrid_weight"]))
    if scorer.num_items != num_items:
        raise ArtifactError(f"{root}: model scores {scorer.num_items} items, manifest {num_items}")
    ann = None
    if _has_ann(manifest):
        ann = ItemIndex({name: _array(root, name) for name in ANN_ARRAYS})
        if len(ann) != num_items:
            raise ArtifactError(f"{root}: ANN index has {len(ann)} items, manifest {num_items}")
    return LoadedModel(
        manifest=manifest, vocab=vocab, scorer=scorer, popularity=popularity, ann=ann
    )


def _has_ann(manifest: dict[str, Any]) -> bool:
    return f"{ANN_ARRAYS[0]}.npy" in manifest["files"]


def _transitions(
    root: Path, config: dict[str, Any], num_items: int, prior: np.ndarray | None
) -> TransitionScorer:
    return TransitionScorer(
        _array(root, "transitions_indptr"),
        _array(root, "transitions_indices"),
        _array(root, "transitions_data"),
        num_items,
        int(config["history_len"]),
        float(config["history_decay"]),
        prior,
    )


def _encoder(
    root: Path, config: dict[str, Any], half: np.ndarray | None, keep_mapped: bool
) -> SASRecEncoder:
    """The encoder and its item table: the memory-mapped float16 table ``half``, or the int8
    copy when ``half`` is None (int8 precision).

    Small catalogs get a float32 table (fast exact scoring). With an ANN index the float16 file
    stays memory-mapped, shared by every worker: requests only gather candidate rows.
    """
    layers, heads = int(config["num_layers"]), int(config["num_heads"])
    if keep_mapped and half is not None:
        return SASRecEncoder(_weights(root), half, layers, heads)
    if half is None:
        quantized = np.asarray(_array(root, "item_emb_i8"), dtype=np.float32)
        table = quantized * np.asarray(_array(root, "item_emb_scales"))[:, None]
    else:
        table = np.asarray(half, dtype=np.float32)
    return SASRecEncoder(_weights(root), table, layers, heads)


def _weights(root: Path) -> dict[str, np.ndarray]:
    with np.load(root / "encoder.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
