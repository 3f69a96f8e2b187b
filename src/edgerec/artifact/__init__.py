"""Artifact directories: write atomically, verify every digest, load into numpy scorers."""

from edgerec.artifact._load import PRECISIONS, LoadedModel, load_artifact
from edgerec.artifact._manifest import (
    FORMAT_VERSION,
    MODEL_TYPES,
    artifact_digest,
    check_digest,
    read_manifest,
    verify_files,
)
from edgerec.artifact._save import check_output, quantize_int8, write_artifact

__all__ = [
    "FORMAT_VERSION",
    "MODEL_TYPES",
    "PRECISIONS",
    "LoadedModel",
    "artifact_digest",
    "check_digest",
    "check_output",
    "load_artifact",
    "quantize_int8",
    "read_manifest",
    "verify_files",
    "write_artifact",
]
