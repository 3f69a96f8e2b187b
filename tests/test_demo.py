"""The demo shop: generated data, and a demo model rebuilt when its format is outdated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgerec.artifact import write_artifact
from edgerec.demo import build_demo
from edgerec.demo_model import _readable


def test_generated_shop_has_a_catalog_and_sessions(tmp_path: Path) -> None:
    catalog, events = build_demo(tmp_path, users=20)
    assert catalog.read_text().splitlines()[0] == "item_id,name,category"
    assert len(events.read_text().splitlines()) > 20


def test_only_a_current_artifact_counts_as_built(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact"
    assert not _readable(artifact)
    write_artifact(
        artifact,
        model_type="popularity",
        config={"popularity": {}},
        item_ids=["a", "b"],
        arrays={"popularity": np.ones(2, dtype=np.float32)},
        archives={},
        info={},
    )
    assert _readable(artifact)
    manifest = json.loads((artifact / "manifest.json").read_text())
    manifest["format_version"] = 1  # written by an older edgerec: rebuild it
    (artifact / "manifest.json").write_text(json.dumps(manifest))
    assert not _readable(artifact)
