"""The serving install (what deploy/Dockerfile installs) stays small and free of PyTorch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "install_size.py"


def test_serving_install_is_under_200_mb_without_torch() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--limit-mb", "200"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "torch installed: False" in result.stdout


def test_dockerfile_serves_without_the_train_extra_as_non_root() -> None:
    dockerfile = (BENCHMARK.parents[1] / "deploy" / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2  # build stage, slim runtime stage
    assert "[train]" not in dockerfile and "torch" not in dockerfile.lower().replace("pytorch", "")
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and all(not user.startswith(("0", "root")) for user in users)
