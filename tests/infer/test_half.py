"""The float16 table conversion gives exactly numpy's values, for every 16-bit pattern."""

from __future__ import annotations

import numpy as np
import pytest

from edgerec.infer import _half, row_blocks, to_float32


def test_every_half_precision_value_converts_exactly() -> None:
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16).reshape(256, 256)
    converted = to_float32(every)
    assert converted.dtype == np.float32 and converted.shape == (256, 256)
    expected = every.astype(np.float32)
    assert np.array_equal(converted.view(np.uint32), expected.view(np.uint32))  # NaN bits too


def test_float32_input_is_passed_through_and_gathers_stay_copies() -> None:
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    assert to_float32(table) is table
    rows = to_float32(table[[1, 3]])
    rows += 1
    assert table[1, 0] == 2.0  # the table itself was not touched


def test_row_blocks_cover_the_table_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_half, "_BLOCK_ROWS", 4)
    table = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float16)
    starts = []
    joined = np.empty((10, 3), dtype=np.float32)
    for start, block in row_blocks(table):
        assert block.dtype == np.float32
        starts.append(start)
        joined[start : start + len(block)] = block
    assert starts == [0, 4, 8]
    assert np.array_equal(joined, table.astype(np.float32))


@pytest.mark.parametrize("rows", [0, 1, 4, 10])  # none, one, exactly a block, a partial block
def test_transposed_copy_equals_the_transpose(rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_half, "_TRANSPOSE_ROWS", 4)
    table = np.random.default_rng(0).standard_normal((rows, 3)).astype(np.float32)
    copy = _half.transposed_float32(table)
    assert copy.flags.c_contiguous and copy.dtype == np.float32 and copy.shape == (3, rows)
    assert np.array_equal(copy, table.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_packed_panels_start_on_a_cache_line_and_hold_the_table(dtype: type) -> None:
    table = np.random.default_rng(1).standard_normal((70, 8)).astype(dtype)
    for _ in range(5):  # whatever offset the allocator hands out
        panels = _half.packed_panels(table, width=16, dtype=dtype)
        assert panels.ctypes.data % 64 == 0 and panels.dtype == dtype
        assert panels.shape == (5, 8, 16)
        unpacked = panels.transpose(0, 2, 1).reshape(80, 8)
        assert np.array_equal(unpacked[:70], table) and not unpacked[70:].any()
