"""Keep freed heap memory in the worker instead of handing it back to the kernel after each batch.

Every batch allocates score matrices of (users, items) floats, hundreds of KB to tens of MB.
With glibc's defaults, blocks that size are mmap-ed and unmapped per allocation, or trimmed from
the heap top when freed, so the next batch pays page faults on fresh pages again: 10-20% of a
recommendation's time on this machine. Raising the thresholds keeps the pages; the worker's RSS
then holds its largest batch, which it needs again under load anyway.
"""

from __future__ import annotations

import ctypes
import logging
import os

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_SETTINGS = (
    (_M_MMAP_THRESHOLD, 32 << 20),  # glibc's ceiling on 64-bit
    (_M_TRIM_THRESHOLD, 256 << 20),
    (_M_TOP_PAD, 16 << 20),
)
# An operator's own glibc tuning wins.
_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory() -> bool:
    """Apply the thresholds through glibc's ``mallopt``; False where that is not possible
    (another C library, or the operator set ``MALLOC_*_`` variables)."""
    if any(name in os.environ for name in _ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    applied = all(mallopt(option, value) == 1 for option, value in _SETTINGS)
    if not applied:
        logger.info("allocator tuning not applied (not glibc?)")
    return applied
