"""The artifact manifest: what a model directory holds and how to trust it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from blake3 import blake3

from edgerec.errors import ArtifactError

# 2: the vocabulary moved from items.json to memory-mappable items.npy + items_sorted*.npy, and
# file digests from sha256 to BLAKE3.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MODEL_TYPES = ("popularity", "transitions", "sasrec", "hybrid")


# Read size for hashing: 1 MiB stays in L2 between the copy and the hash.
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """BLAKE3 of a file's bytes: ~5 GB/s on one core here against ~1 GB/s for sha256, which
    made the check of a 1M-item artifact a third of the service's start-up time.

    Reads through one reused buffer rather than ``update_mmap``: copying from the page cache
    cost less than faulting in a fresh mapping of every page (232 MB: median 61 against 70 ms,
    one core). Both steps release the GIL, so a reload's check does not stall requests.
    """
    digest = blake3()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, Any]:
    """Parse and sanity-check ``manifest.json`` (no file digests checked here)."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: not an artifact directory")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing manifest") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: manifest must be a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: format_version {version!r} is not supported (want {FORMAT_VERSION}); "
            "export the model again with this version of edgerec"
        )
    if manifest.get("model_type") not in MODEL_TYPES:
        raise ArtifactError(f"{path}: unknown model_type {manifest.get('model_type')!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ArtifactError(f"{path}: manifest lists no files")
    return manifest


def artifact_digest(manifest: dict[str, Any]) -> str:
    """One sha256 naming the whole artifact: the digest of its (name, size, BLAKE3) file list.

    Deployments pin it (``edgerec inspect --expect-digest``, ``EDGEREC_ARTIFACT_DIGEST``); its
    first 16 hex digits are the version the service reports.
    """
    return hashlib.sha256(repr(sorted(manifest["files"].items())).encode()).hexdigest()


def check_digest(directory: Path, manifest: dict[str, Any], expected: str) -> None:
    """Refuse an artifact whose digest is not ``expected`` (the full digest or its version)."""
    actual = artifact_digest(manifest)
    wanted = expected.strip().lower().removeprefix("sha256:")
    if len(wanted) < 16 or not actual.startswith(wanted):
        raise ArtifactError(
            f"{directory}: artifact digest is {actual}, expected {expected} (wrong artifact)"
        )


def verify_files(directory: Path, manifest: dict[str, Any], unread: Collection[str] = ()) -> None:
    """Check size and digest of every listed file; refuse anything missing, short or altered.

    Files in ``unread`` (ones this load never opens) get the size check only: hashing the other
    precision's embedding copy cost ~14 ms of a 1M-item start-up for nothing served.
    """
    for name, entry in manifest["files"].items():
        if Path(name).name != name:
            raise ArtifactError(f"{directory}: manifest names a path outside the artifact: {name}")
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{path}: listed in the manifest but missing")
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise ArtifactError(
                f"{path}: {size} bytes, manifest says {entry.get('bytes')} (truncated or replaced)"
            )
        if name not in unread and file_digest(path) != entry.get("blake3"):
            raise ArtifactError(f"{path}: digest does not match the manifest (file was altered)")
