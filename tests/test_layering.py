"""Serving code must not need PyTorch or the training package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edgerec.data import SequenceData
from edgerec.train import SASRecConfig, train_model


def test_loading_scoring_and_serving_import_no_torch(tmp_path: Path, planted: SequenceData) -> None:
    out = tmp_path / "model"
    tiny = SASRecConfig(
        embedding_size=16, num_layers=1, num_heads=1, max_len=8, epochs=1, threads=1
    )
    train_model(planted, "hybrid", out, sasrec=tiny, progress=False)
    code = (
        "import sys, numpy as np\n"
        "from edgerec.artifact import load_artifact\n"
        f"model = load_artifact({str(out)!r})\n"
        "model.scorer.score([np.array([1, 2, 3])])\n"
        "import edgerec.serve._app, edgerec.serve._launch, edgerec.serve._asgi\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('edgerec.train')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_exported_members() -> None:
    import edgerec.artifact
    import edgerec.data
    import edgerec.evaluate
    import edgerec.infer

    assert set(edgerec.artifact.__all__) == {
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
    }
    assert set(edgerec.data.__all__) == {
        "ArrayVocabulary",
        "FORMATS",
        "Interactions",
        "LeaveOneOutSplit",
        "SequenceData",
        "Vocabulary",
        "build_sequences",
        "iso_seconds",
        "leave_one_out",
        "read_interactions",
    }
    for module in (edgerec.artifact, edgerec.data, edgerec.evaluate, edgerec.infer):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
