"""OpenBLAS's AVX-512 kernels on AMD CPUs that have AVX-512 (Zen 4 and later).

The OpenBLAS inside numpy's wheels (0.3.31 here) runs its Haswell (AVX2) kernels on these CPUs.
Its SkylakeX kernels need only AVX-512 F/CD/BW/DQ/VL, which they have: on the benchmark machine
(an AMD EPYC with AVX-512) they made the (16, 64) x (64, 12,101) scoring product 1.6x faster
and the encoder 1.25x faster, in the same run (`OPENBLAS_VERBOSE=2` prints the kernels in use).

OpenBLAS reads ``OPENBLAS_CORETYPE`` once, when numpy first loads it, so this runs on
``import edgerec``. An operator's own ``OPENBLAS_CORETYPE`` always wins.
"""

from __future__ import annotations

import os

_SKYLAKEX_NEEDS = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})


def prefer_avx512_kernels(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Set ``OPENBLAS_CORETYPE=SkylakeX`` on an AMD CPU with AVX-512; True if it did."""
    if "OPENBLAS_CORETYPE" in os.environ:
        return False
    vendor, flags = "", frozenset[str]()
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == "vendor_id":
                    vendor = value.strip()
                elif name.strip() == "flags":
                    flags = frozenset(value.split())
                    break  # the first CPU tells
    except OSError:  # not Linux: leave OpenBLAS to its own detection
        return False
    if vendor != "AuthenticAMD" or not flags >= _SKYLAKEX_NEEDS:
        return False
    os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    return True
