"""Packed training rows must compute, at every real position, what one padded row per
sequence computes: packing is a speed change, not a model change."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgerec.train._packing import NO_SEGMENT, pack
from edgerec.train._sasrec_torch import SASRecNet

WIDTH, ITEMS = 10, 40


def _sequences(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, ITEMS, int(rng.integers(1, WIDTH + 1))) for _ in range(count)]


def _net() -> SASRecNet:
    torch.manual_seed(3)
    net = SASRecNet(ITEMS, 16, WIDTH, 2, 2, 0.0, 0.0)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
        net.item_emb.weight[ITEMS].zero_()
    return net.eval()


def test_each_sequence_lands_whole_with_its_own_positions() -> None:
    inputs = _sequences(0, 30)
    targets = [row + 1 for row in inputs]
    rows = pack(inputs, WIDTH, ITEMS, targets)
    assert rows.items.shape[1] == WIDTH
    # First fit, longest first: no two rows could have been merged.
    used = (rows.segments != NO_SEGMENT).sum(axis=1)
    assert used.min() > 0 and sorted(used)[0] + sorted(used)[1] > WIDTH
    for index, items in enumerate(inputs):
        row, last = rows.last_row[index], rows.last_slot[index]
        slots = slice(last + 1 - len(items), last + 1)
        np.testing.assert_array_equal(rows.items[row, slots], items)
        np.testing.assert_array_equal(rows.targets[row, slots], targets[index])
        np.testing.assert_array_equal(
            rows.positions[row, slots], np.arange(WIDTH - len(items), WIDTH)
        )
        assert (rows.segments[row] == index).sum() == len(items)
    free = rows.segments == NO_SEGMENT
    assert (rows.items[free] == ITEMS).all() and (rows.targets[free] == ITEMS).all()


def test_packed_rows_compute_what_padded_rows_compute() -> None:
    net = _net()
    inputs = _sequences(1, 25)
    rows = pack(inputs, WIDTH, ITEMS)
    assert len(rows.items) < len(inputs)  # the test packs something
    with torch.no_grad():
        packed = net(
            torch.from_numpy(rows.items),
            torch.from_numpy(rows.positions),
            torch.from_numpy(rows.segments),
        )
        for index, items in enumerate(inputs):
            padded = torch.full((1, WIDTH), ITEMS, dtype=torch.int64)
            padded[0, WIDTH - len(items) :] = torch.from_numpy(items)
            alone = net(padded)[0, WIDTH - len(items) :]
            row, last = rows.last_row[index], rows.last_slot[index]
            together = packed[row, last + 1 - len(items) : last + 1]
            torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("inputs", "targets"),
    [
        ([np.array([], dtype=np.int64)], None),
        ([np.arange(WIDTH + 1)], None),
        ([np.arange(3)], [np.arange(2)]),
    ],
)
def test_sequences_that_cannot_be_packed_are_refused(
    inputs: list[np.ndarray], targets: list[np.ndarray] | None
) -> None:
    with pytest.raises(ValueError, match=r"need 1\.\.10"):
        pack(inputs, WIDTH, ITEMS, targets)


def test_packed_rows_need_their_segments() -> None:
    rows = pack(_sequences(2, 4), WIDTH, ITEMS)
    items, positions = torch.from_numpy(rows.items), torch.from_numpy(rows.positions)
    with pytest.raises(ValueError, match="go together"):
        _net()(items, positions)
