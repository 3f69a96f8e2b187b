"""The kernels built for aarch64 (cross-compiled and read, as no ARM machine runs the tests):
vectors must fit its 16-byte registers, or GCC keeps them on the stack (see _native.h)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

COMPILER = "aarch64-linux-gnu-gcc"
SOURCES = Path(__file__).resolve().parents[2] / "src" / "edgerec" / "infer"


def assembly(source: str) -> str:
    command = [COMPILER, "-O3", "-std=c11", "-ffp-contract=fast", "-Wno-psabi", "-S", "-o", "-"]
    command += [f"-I{sysconfig.get_paths()['include']}", str(SOURCES / source)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which(COMPILER) is None, reason=f"{COMPILER} not installed")
@pytest.mark.parametrize("source", ["_native.c", "_select.c"])
def test_aarch64_build_keeps_vectors_in_registers(source: str) -> None:
    text = assembly(source)
    assert re.search(r"\sv\d+\.4s\b", text)  # vector code, not scalar
    # With 16-float vectors (before 274bdfd) the float kernels moved q registers through the
    # stack: 367 times in `linear` alone.
    spills = re.findall(r"\b(?:ldr|str|ldp|stp)\s+q\d+.*\[sp.*", text)
    assert not spills, spills[:5]
