"""Several short training sequences share one row of the batch (sequence packing).

Beauty's training inputs average ~6 items in a 50-wide window, so a left-padded batch is
mostly padding, and the encoder, its dropout masks included, ran on all of it. Packed, each
sequence keeps the positions it would have had alone (``max_len - n .. max_len - 1``) and
attends only within itself (``segments``), so every real position computes what it did
padded, in a fraction of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NO_SEGMENT = -1  # a slot no sequence uses


@dataclass(frozen=True)
class Packed:
    """(rows, width) arrays; unused slots hold ``pad`` items and targets.

    ``last_row[i]``, ``last_slot[i]``: where sequence ``i``'s last item sits.
    """

    items: np.ndarray
    targets: np.ndarray
    positions: np.ndarray
    segments: np.ndarray
    last_row: np.ndarray
    last_slot: np.ndarray


def pack(
    inputs: Sequence[np.ndarray],
    width: int,
    pad: int,
    targets: Sequence[np.ndarray] | None = None,
) -> Packed:
    """Place each sequence of 1..``width`` items (with its targets, if any) in a row, first fit.

    Longest first: a full-width sequence takes a row alone and the short ones fill the gaps.
    """
    order = sorted(range(len(inputs)), key=lambda index: -len(inputs[index]))
    free: list[int] = []  # room left in each row
    first_slot = np.zeros(len(inputs), dtype=np.int64)
    last_row = np.zeros(len(inputs), dtype=np.int64)
    for index in order:
        size = len(inputs[index])
        if not 0 < size <= width or (targets is not None and len(targets[index]) != size):
            raise ValueError(f"sequence {index} has {size} items: need 1..{width}, one target each")
        row = next((r for r, room in enumerate(free) if room >= size), len(free))
        if row == len(free):
            free.append(width)
        first_slot[index], last_row[index] = width - free[row], row
        free[row] -= size
    shape = (len(free), width)
    out = Packed(
        items=np.full(shape, pad, dtype=np.int64),
        targets=np.full(shape, pad, dtype=np.int64),
        positions=np.zeros(shape, dtype=np.int64),
        segments=np.full(shape, NO_SEGMENT, dtype=np.int64),
        last_row=last_row,
        last_slot=first_slot + [len(items) - 1 for items in inputs],
    )
    for index, items in enumerate(inputs):
        row, slots = last_row[index], slice(first_slot[index], out.last_slot[index] + 1)
        out.items[row, slots] = items
        if targets is not None:
            out.targets[row, slots] = targets[index]
        out.positions[row, slots] = np.arange(width - len(items), width)
        out.segments[row, slots] = index
    return out
