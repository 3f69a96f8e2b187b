from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from blake3 import blake3

from edgerec.artifact import load_artifact, quantize_int8, read_manifest
from edgerec.artifact._manifest import file_digest
from edgerec.data import SequenceData
from edgerec.errors import ArtifactError
from edgerec.train import SASRecConfig, train_model

TINY = SASRecConfig(
    embedding_size=16,
    num_layers=1,
    num_heads=1,
    max_len=8,
    epochs=2,
    batch_size=64,
    seed=0,
    threads=1,
)


@pytest.fixture
def hybrid_dir(tmp_path: Path, planted: SequenceData) -> Path:
    out = tmp_path / "model"
    train_model(planted, "hybrid", out, sasrec=TINY, progress=False)
    return out


def test_manifest_lists_every_file_with_its_digest(hybrid_dir: Path) -> None:
    manifest = read_manifest(hybrid_dir)
    expected = {
        "items.npy",
        "items_sorted.npy",
        "items_sorted_index.npy",
        "popularity.npy",
        "encoder.npz",
        "item_emb_f16.npy",
        "item_emb_i8.npy",
        "item_emb_scales.npy",
        "transitions_indptr.npy",
        "transitions_indices.npy",
        "transitions_data.npy",
    }
    assert set(manifest["files"]) == expected
    for key in (
        "format_version",
        "model_type",
        "config",
        "num_items",
        "dimensions",
        "data",
        "metrics",
        "created_at",
    ):
        assert key in manifest
    assert (hybrid_dir / "metrics.json").exists()
    assert (hybrid_dir / "training_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_round_trip_scores_match_training_scorer(hybrid_dir: Path, planted: SequenceData) -> None:
    loaded = load_artifact(hybrid_dir)
    assert loaded.vocab.ids == planted.vocab.ids
    history = [planted.sequences[0][:-1]]
    scores = loaded.scorer.score(history)
    assert scores.shape == (1, planted.num_items)
    int8 = load_artifact(hybrid_dir, precision="int8").scorer.score(history)
    assert np.argmax(int8) == np.argmax(scores)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_tampered_files_are_refused(hybrid_dir: Path, damage: str) -> None:
    target = hybrid_dir / "item_emb_f16.npy"
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(bytes(data[:-10]))
    else:
        target.unlink()
    with pytest.raises(ArtifactError, match=r"item_emb_f16\.npy"):
        load_artifact(hybrid_dir)


@pytest.mark.parametrize("size", [0, 1 << 20, (5 << 20) // 2])
def test_file_digest_is_the_blake3_of_the_whole_file(tmp_path: Path, size: int) -> None:
    # Sizes around the read buffer (1 MiB): empty, exactly one, and a partial last read.
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_digest(path) == blake3(data).hexdigest()


def test_a_load_hashes_the_files_it_reads_and_size_checks_the_rest(hybrid_dir: Path) -> None:
    target = hybrid_dir / "item_emb_i8.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    load_artifact(hybrid_dir)  # float16 never opens the int8 copy
    with pytest.raises(ArtifactError, match=r"item_emb_i8\.npy: digest"):
        load_artifact(hybrid_dir, precision="int8")
    target.write_bytes(bytes(data[:-10]))
    with pytest.raises(ArtifactError, match=r"item_emb_i8\.npy: .* bytes"):
        load_artifact(hybrid_dir)


def test_bad_manifests_are_refused(hybrid_dir: Path, tmp_path: Path) -> None:
    manifest_path = hybrid_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="format_version"):
        load_artifact(hybrid_dir)
    manifest_path.write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(hybrid_dir)
    with pytest.raises(ArtifactError, match="not an artifact"):
        load_artifact(tmp_path / "nowhere")


def test_npz_files_hold_no_pickles(hybrid_dir: Path) -> None:
    with np.load(hybrid_dir / "encoder.npz", allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)


def test_failed_write_leaves_old_artifact_and_no_debris(
    hybrid_dir: Path, planted: SequenceData
) -> None:
    before = read_manifest(hybrid_dir)["created_at"]

    def boom(staging: Path) -> None:
        raise RuntimeError("disk full")

    from edgerec.artifact import write_artifact

    with pytest.raises(RuntimeError):
        write_artifact(
            hybrid_dir,
            model_type="popularity",
            config={},
            item_ids=["a"],
            arrays={"popularity": np.ones(1)},
            archives={},
            info={},
            extras=boom,
        )
    assert read_manifest(hybrid_dir)["created_at"] == before
    assert sorted(p.name for p in hybrid_dir.parent.iterdir()) == ["model"]


def test_int8_quantisation_error_is_small() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(100, 64)).astype(np.float32)
    quantized, scales = quantize_int8(matrix)
    assert quantized.dtype == np.int8
    error = np.abs(quantized * scales[:, None] - matrix).max(axis=1)
    assert np.all(error <= scales / 2 + 1e-6)
