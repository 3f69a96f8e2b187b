"""The AVX-512 OpenBLAS kernels are picked only on AMD CPUs that have AVX-512."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgerec._blas import prefer_avx512_kernels

AVX512 = "fpu sse2 avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni"


def cpuinfo(tmp_path: Path, vendor: str, flags: str) -> str:
    path = tmp_path / "cpuinfo"
    cpu = f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n\n"
    path.write_text(cpu + cpu.replace("processor\t: 0", "processor\t: 1"))
    return str(path)


@pytest.mark.parametrize(
    ("vendor", "flags", "picked"),
    [
        ("AuthenticAMD", AVX512, True),
        ("AuthenticAMD", "fpu sse2 avx2 fma", False),  # Zen 3 and older: AVX2 only
        ("AuthenticAMD", AVX512.replace(" avx512vl", ""), False),
        ("GenuineIntel", AVX512, False),  # OpenBLAS detects Intel's AVX-512 parts itself
    ],
)
def test_avx512_kernels_only_where_the_cpu_has_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vendor: str, flags: str, picked: bool
) -> None:
    # setenv first, so that teardown also undoes what the function sets when the variable was
    # absent before the test (delenv of a missing variable records nothing to restore).
    monkeypatch.setenv("OPENBLAS_CORETYPE", "placeholder")
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert prefer_avx512_kernels(cpuinfo(tmp_path, vendor, flags)) is picked
    assert os.environ.get("OPENBLAS_CORETYPE") == ("SkylakeX" if picked else None)


def test_the_operators_choice_and_a_missing_cpuinfo_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert not prefer_avx512_kernels(cpuinfo(tmp_path, "AuthenticAMD", AVX512))
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert not prefer_avx512_kernels(str(tmp_path / "missing"))
    assert "OPENBLAS_CORETYPE" not in os.environ


def test_importing_edgerec_applies_it_before_numpy_loads() -> None:
    code = (
        "import os, sys\n"
        "import edgerec\n"
        "assert 'numpy' not in sys.modules\n"
        "set_on_import = os.environ.pop('OPENBLAS_CORETYPE', None)\n"
        "from edgerec._blas import prefer_avx512_kernels\n"
        "assert (set_on_import == 'SkylakeX') == prefer_avx512_kernels(), set_on_import\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
