"""The compiled kernels (``_native.c``), or None where they were not built, are turned off, or
would be slower than numpy on this CPU. On AVX-512 CPUs, their 16-float build
(``_native512``, see ``_native.h``) where it was built.

The extension is optional: an install without a C compiler serves with numpy alone, the same
model to float32 rounding. ``EDGEREC_NATIVE=0`` turns the kernels off, for comparison runs.
On an x86-64 CPU without AVX2 and FMA only the kernels' baseline build runs, whose vectors are
wider than the CPU's registers: several times slower than numpy (the baseline build forced on
a Zen 3 core: the product of 16 users with 12,101 items 13.6 ms, the encoder 747 us per user
against numpy's 66), so numpy serves there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import accumulate
from types import ModuleType

import numpy as np


def _load() -> ModuleType | None:
    if os.environ.get("EDGEREC_NATIVE", "1") == "0":
        return None
    try:
        from edgerec.infer import _native
    except ImportError:
        return None
    return widest(usable(_native))


def usable(module: ModuleType) -> ModuleType | None:
    """``module`` if this CPU runs a build of it that fits its vector registers, else None."""
    return module if module.vectorized() else None


def widest(module: ModuleType | None) -> ModuleType | None:
    """The 16-float build instead of ``module`` where this CPU runs it and it was built."""
    if module is None or not module.wide():
        return module
    try:
        from edgerec.infer import _native512
    except ImportError:
        return module
    return _native512


native = _load()


def joined(groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged int arrays as the kernels take them: all values as one int64 array, and the
    int64 offsets where each group starts (``len(groups) + 1`` of them, the last the total)."""
    # Offsets straight from the lengths, the values in one cast-while-joining call: per batch
    # of 16 ten-item groups 10.1 -> 5.2 us, a lone group's 5.7 -> 1.5 (numpy 2, Xeon).
    offsets = np.fromiter(accumulate(map(len, groups), initial=0), np.int64, len(groups) + 1)
    if not groups:
        return np.zeros(0, dtype=np.int64), offsets
    return np.concatenate(groups, dtype=np.int64, casting="unsafe"), offsets


def integer_groups(groups: Sequence[object]) -> list[np.ndarray]:
    """Groups of item indices as the kernels read them in place (int64 arrays) from anything
    array-like (lists, say); TypeError for a non-integer one."""
    out = []
    for group in groups:
        array = np.asarray(group)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"item indices must be integers, got {array.dtype}")
        out.append(np.ascontiguousarray(array, dtype=np.int64))
    return out
