"""Writing an artifact directory atomically: build in a temporary sibling, then rename."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edgerec.artifact._manifest import FORMAT_VERSION, MANIFEST, file_digest
from edgerec.errors import ArtifactError


def quantize_int8(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8 quantisation: ``matrix ~= q * scales[:, None]``."""
    peak = np.abs(matrix).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    quantized = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return quantized, scales


def check_output(directory: Path) -> None:
    """Raise ArtifactError now if an artifact could not be written to ``directory`` (before a
    training run that would only fail at its end)."""
    _staging(Path(directory)).rmdir()


def _staging(directory: Path) -> Path:
    """A new empty sibling of ``directory`` to build an artifact in (its parent created)."""
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    except OSError as exc:
        raise ArtifactError(
            f"{directory}: cannot write an artifact there ({exc.strerror})"
        ) from None


def write_artifact(
    directory: Path,
    *,
    model_type: str,
    config: dict[str, Any],
    item_ids: list[str],
    arrays: dict[str, np.ndarray],
    archives: dict[str, dict[str, np.ndarray]],
    info: dict[str, Any],
    extras: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Write the artifact and its manifest; replace ``directory`` only once all is written.

    Args:
        directory: final artifact path (replaced if it exists).
        model_type: one of ``MODEL_TYPES``.
        config: hyper-parameters (JSON-serialisable).
        item_ids: external item ids in dense-index order.
        arrays: ``name -> array`` written as ``name.npy`` (memory-mappable at load).
        archives: ``name -> {key: array}`` written as ``name.npz`` (small weight sets).
        info: further manifest fields (dimensions, fingerprint, metrics...).
        extras: writes unlisted companion files (plots) into the staging directory.
    """
    directory = Path(directory)
    staging = _staging(directory)
    try:
        for name, array in _vocabulary_arrays(item_ids).items():
            np.save(staging / f"{name}.npy", array, allow_pickle=False)
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        for name, members in archives.items():
            np.savez(staging / f"{name}.npz", **members)  # type: ignore[arg-type]
        files = {
            path.name: {"blake3": file_digest(path), "bytes": path.stat().st_size}
            for path in sorted(staging.iterdir())
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            "model_type": model_type,
            "config": config,
            "num_items": len(item_ids),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **info,
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if extras is not None:
            extras(staging)
        os.chmod(staging, 0o755)
        _replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _vocabulary_arrays(item_ids: list[str]) -> dict[str, np.ndarray]:
    """``items`` (UTF-8 ids in dense order), ``items_sorted`` and ``items_sorted_index`` (the
    dense index of each sorted id): what `ArrayVocabulary` searches."""
    if any("\x00" in item for item in item_ids):
        raise ArtifactError("item ids must not contain NUL characters")
    encoded = [item.encode() for item in item_ids]
    ids = np.array(encoded, dtype=np.bytes_) if encoded else np.array([], dtype="S1")
    order = np.argsort(ids, kind="stable").astype(np.int32)
    ranked = ids[order]
    if len(ranked) > 1 and bool((ranked[1:] == ranked[:-1]).any()):
        raise ArtifactError("item ids must be unique")
    return {"items": ids, "items_sorted": ranked, "items_sorted_index": order}


def _replace(staging: Path, directory: Path) -> None:
    if directory.exists():
        if not (directory / MANIFEST).exists() and any(directory.iterdir()):
            raise ArtifactError(f"{directory}: exists and is not an artifact; refusing to replace")
        old = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        directory.rename(old)
        staging.rename(directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(directory)
