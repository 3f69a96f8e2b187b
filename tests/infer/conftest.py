"""Kernel tests run once per compiled build this CPU runs (see edgerec/infer/_native.h)."""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import pytest

from edgerec.infer import _ann, _kernels, _sasrec, _scorers
from edgerec.serve import _engine, _topk


def runnable_builds() -> list[str]:
    """The builds of the kernels this CPU runs: the 8-float one, and the 16-float one on AVX-512
    CPUs (each only where it was built)."""
    if os.environ.get("EDGEREC_NATIVE") == "0":
        return []
    try:
        from edgerec.infer import _native
    except ImportError:
        return []
    if not _native.vectorized():
        return []
    builds = ["_native"]
    if _native.wide() and importlib.util.find_spec("edgerec.infer._native512") is not None:
        builds.append("_native512")
    return builds


@pytest.fixture(params=runnable_builds())
def each_build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """One build, put in place of the chosen one wherever the library and the test module use it."""
    module = importlib.import_module(f"edgerec.infer.{request.param}")
    for owner in (_kernels, _scorers, _sasrec, _ann, _topk, _engine, request.module):
        if hasattr(owner, "native"):
            monkeypatch.setattr(owner, "native", module)
    return module
