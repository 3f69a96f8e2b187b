from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def require(binary: str, package: str) -> str:
    """The path of a tool CI installs; a clear failure (not a skip) when it is missing."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is needed for the deploy/ checks: apt-get install {package}")
    return path
