"""The compiled kernels (``_native.c``), or None where they were not built or are turned off.

The extension is optional: an install without a C compiler serves with numpy alone, the same
model to float32 rounding. ``EDGEREC_NATIVE=0`` turns the kernels off, for comparison runs.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("EDGEREC_NATIVE", "1") == "0":
        return None
    try:
        from edgerec.infer import _native
    except ImportError:
        return None
    return _native


native = _load()
