"""The compiled kernels must compute what the numpy reference computes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from edgerec.infer import SASRecEncoder, TransitionScorer, _kernels, _scorers, softmax_rows
from edgerec.infer._half import packed_panels
from edgerec.infer._kernels import native

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("EDGEREC_NATIVE") == "0", reason="compiled kernels turned off"
    ),
    pytest.mark.usefixtures("each_build"),
]


def random_encoder(dim: int, heads: int, layers: int, items: int = 50) -> SASRecEncoder:
    rng = np.random.default_rng(dim * 10 + layers)

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.4).astype(np.float32)

    weights = {"pos_emb": normal(12, dim), "emb_ln.g": 1 + normal(dim), "emb_ln.b": normal(dim)}
    for layer in range(layers):
        p = f"l{layer}."
        for name in ("q", "k", "v", "o"):
            weights[p + name + ".w"], weights[p + name + ".b"] = normal(dim, dim), normal(dim)
        weights[p + "ff1.w"], weights[p + "ff1.b"] = normal(dim, 4 * dim), normal(4 * dim)
        weights[p + "ff2.w"], weights[p + "ff2.b"] = normal(4 * dim, dim), normal(dim)
        for norm in ("ln1", "ln2"):
            weights[p + norm + ".g"], weights[p + norm + ".b"] = 1 + normal(dim), normal(dim)
    return SASRecEncoder(weights, normal(items, dim) * 3, layers, heads)


def test_the_extension_is_built() -> None:
    # The supported install compiles it; without it serving silently takes the slower path.
    from edgerec.infer import _native

    chosen = _kernels._load()  # what the library loaded (the fixture patches `native`)
    if _native.wide():  # an AVX-512 CPU: the 16-float build serves
        from edgerec.infer import _native512

        assert chosen is _native512
    else:
        assert chosen is (_native if _native.vectorized() else None)


def test_kernels_whose_vectors_do_not_fit_the_cpu_are_not_used() -> None:
    fitting, wide = ModuleType("fitting"), ModuleType("wide")
    fitting.vectorized, wide.vectorized = lambda: True, lambda: False  # type: ignore[attr-defined]
    assert _kernels.usable(fitting) is fitting
    assert _kernels.usable(wide) is None


# Widths that are and are not multiples of the kernels' vectors (8 or 16 floats).
@pytest.mark.parametrize(("dim", "heads", "layers"), [(64, 2, 2), (24, 2, 1), (20, 4, 3)])
def test_encoder_matches_numpy(dim: int, heads: int, layers: int) -> None:
    encoder = random_encoder(dim, heads, layers)
    assert encoder._packed is not None
    rng = np.random.default_rng(3)
    # Empty, single-item, padded and longer-than-max_len (12) histories in one batch.
    histories = [rng.integers(0, 50, size) for size in (0, 1, 5, 12, 19, 7)]
    compiled = encoder.encode(histories)
    packed, encoder._packed = encoder._packed, None
    reference = encoder.encode(histories)
    assert not compiled[0].any()
    np.testing.assert_allclose(compiled, reference, rtol=1e-4, atol=1e-5)
    encoder._packed = packed
    for row, history in enumerate(histories):  # a user alone, unpadded
        alone = encoder.encode([history])
        np.testing.assert_allclose(alone[0], reference[row], rtol=1e-4, atol=1e-5)


def test_encoder_reads_a_float16_table_as_its_float32_widening() -> None:
    """The compiled pass gathers the histories' rows itself: from a float16 table (widened in
    the kernel) or a non-contiguous one (copied first) the user vectors are those of the
    float32 table of the same values, bit for bit."""
    base = random_encoder(64, 2, 2)
    halves = base.item_embeddings.astype(np.float16)
    rng = np.random.default_rng(5)
    histories = [rng.integers(0, 50, size) for size in (1, 4, 12, 30)]
    expected = SASRecEncoder(base.w, halves.astype(np.float32), 2, 2).encode(histories)
    for table in (halves, np.asfortranarray(halves)):
        got = SASRecEncoder(base.w, table, 2, 2).encode(histories)
        np.testing.assert_array_equal(got, expected)


def test_encoder_refuses_a_table_of_another_width() -> None:
    # The compiled pass takes the table's rows as d wide: one of another width goes to numpy's
    # pass, which refuses it, instead of being read as d-wide rows.
    base = random_encoder(64, 2, 2)
    encoder = SASRecEncoder(base.w, np.zeros((50, 32), np.float32), 2, 2)
    with pytest.raises(ValueError):
        encoder.encode([np.arange(3)])


def fastest_us(run: Callable[[], object], rounds: int = 30) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times) * 1e6


def test_compiled_product_and_softmax_keep_up_with_numpy() -> None:
    """A coarse guard on the build this CPU runs, as a ratio in one process (never an absolute
    time): the AVX2 build of 16-float vectors once ran the product ~30x slower than numpy's
    BLAS and the softmax 1.3x slower than numpy's exp and sums. Now the product is within
    1.5x of multi-threaded BLAS and the softmax under a third of numpy's time: 4x and 1x
    leave room for a noisy machine."""
    assert native is not None
    rng = np.random.default_rng(0)
    table = rng.standard_normal((12_101, 64)).astype(np.float32)
    users = rng.standard_normal((16, 64)).astype(np.float32)
    panels, by_dim = packed_panels(table), np.ascontiguousarray(table.T)
    out = np.empty((16, len(table)), dtype=np.float32)
    compiled = fastest_us(lambda: native.matmul(users, 16, 64, panels, len(table), out))
    reference = fastest_us(lambda: users @ by_dim)
    assert compiled < 4 * reference, (compiled, reference)
    scores = users @ by_dim
    compiled = fastest_us(lambda: native.softmax(scores, *scores.shape))
    reference = fastest_us(lambda: np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True))
    assert compiled < reference, (compiled, reference)


def test_encode_refuses_histories_it_cannot_read() -> None:
    assert native is not None
    encoder = random_encoder(16, 1, 1)
    assert encoder._packed is not None
    table, out = np.zeros((30, 16), np.float32), np.zeros((2, 16), np.float32)
    positions = encoder.w["pos_emb"]  # 12 of them

    def call(histories: object) -> None:
        assert native is not None
        native.encode(
            table, False, histories, positions, 12, encoder._packed, 16, 1, 64, 1, 1e-5, out
        )

    with pytest.raises(TypeError):
        call(5)  # not a sequence
    with pytest.raises(TypeError, match="int32 or int64"):
        call([np.array([1.0, 2.0]), np.array([1])])
    with pytest.raises(TypeError, match="int32 or int64"):
        call([np.ones((2, 2), np.int64), np.array([1])])  # a group that is not 1-D
    with pytest.raises(ValueError):
        call([np.array([1])] * 3)  # more users than out has rows
    with pytest.raises(ValueError):
        call([])


def test_encode_reads_any_integer_histories() -> None:
    """int32 and int64 arrays are read in place; lists and strided views are converted."""
    encoder = random_encoder(16, 2, 2, items=40)
    expected = encoder.encode([np.array([3, 9, 4]), np.arange(30, dtype=np.int64)[-12:]])
    for histories in (
        [np.array([3, 9, 4], np.int32), np.arange(30, dtype=np.int32)],  # cut to the last 12
        [[3, 9, 4], np.arange(29, -1, -1)[::-1]],
    ):
        np.testing.assert_allclose(encoder.encode(histories), expected, rtol=1e-6, atol=1e-6)
    rectangular = np.array([[3, 9, 4], [7, 8, 9]])  # one 2-D array: its rows are the users
    np.testing.assert_allclose(
        encoder.encode(rectangular),
        encoder.encode([np.array([3, 9, 4]), np.array([7, 8, 9])]),
        rtol=1e-6,
        atol=1e-6,
    )
    with pytest.raises(TypeError):
        encoder.encode([np.array([1.5])])


@pytest.mark.parametrize("item", [-1, 30])
@pytest.mark.parametrize("half", [False, True])
def test_encode_refuses_an_item_outside_the_table(item: int, half: bool) -> None:
    assert native is not None
    encoder = random_encoder(16, 1, 1)
    table = np.zeros((30, 16), np.float16 if half else np.float32)
    items = np.array([3, item, 5], np.int64)
    out = np.zeros((1, 16), np.float32)
    with pytest.raises(IndexError, match="outside the table"):
        native.encode(
            table, half, [items], encoder.w["pos_emb"], 12, encoder._packed, 16, 1, 64, 1,
            1e-5, out,
        )  # fmt: skip


def test_gelu_saturates_without_overflow() -> None:
    encoder = random_encoder(16, 1, 1)
    # Huge first feed-forward weights drive GELU far into both tails (exp overflows there).
    encoder.w["l0.ff1.w"] = encoder.w["l0.ff1.w"] * 1e3
    encoder._packed = encoder._pack()
    histories = [np.arange(6)]
    compiled = encoder.encode(histories)
    encoder._packed = None
    np.testing.assert_allclose(compiled, encoder.encode(histories), rtol=1e-3, atol=1e-3)
    assert np.isfinite(compiled).all()


@pytest.mark.parametrize("rows", [1, 3, 4, 6, 9, 14, 33])
@pytest.mark.parametrize("items", [1, 63, 64, 150])
def test_panel_product_matches_numpy(rows: int, items: int) -> None:
    assert native is not None
    rng = np.random.default_rng(rows + items)
    table = rng.standard_normal((items, 24)).astype(np.float32)
    users = rng.standard_normal((rows, 24)).astype(np.float32)
    out = np.full((rows, items), np.nan, dtype=np.float32)
    native.matmul(users, rows, 24, packed_panels(table), items, out)
    np.testing.assert_allclose(out, users @ table.T, rtol=1e-5, atol=1e-5)
    # float16 panels of a float16-exact table: the same products, bit for bit.
    exact = table.astype(np.float16).astype(np.float32)
    wide = np.empty_like(out)
    native.matmul(users, rows, 24, packed_panels(exact), items, wide)
    # Both ways of widening: in registers (AVX-512, on Intel below 32 rows; AVX2 up to 4 rows)
    # and a panel at a time.
    for direct in (True, False):
        half = np.full_like(out, np.nan)
        panels = packed_panels(exact, dtype=np.float16)
        native.matmul_half(users, rows, 24, panels, items, half, direct)
        np.testing.assert_array_equal(half, wide)


def test_half_panels_widen_every_float16_exactly() -> None:
    assert native is not None
    # Every one of the 65,536 half patterns (subnormals, infinities, NaN) as one item's value.
    values = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    table = values.astype(np.float32)[:, None]
    out = np.empty((1, len(values)), dtype=np.float32)
    panels = packed_panels(table, dtype=np.float16)
    native.matmul_half(np.ones((1, 1), np.float32), 1, 1, panels, len(values), out)
    np.testing.assert_array_equal(out[0], table[:, 0])


@pytest.mark.parametrize("kind", [0, 1])
def test_each_float16_converter_is_exact(kind: int) -> None:
    assert native is not None
    # Every half pattern, an odd count so the vector converters' tails run too.
    values = np.arange(1 << 16, dtype=np.uint16)[:-1]
    out = np.full(len(values), 7.0, dtype=np.float32)
    if not native.widen(values, len(values), out, kind):
        pytest.skip("this CPU lacks the converter's instructions")
    np.testing.assert_array_equal(out, values.view(np.float16).astype(np.float32))


def test_scorer_packs_the_float16_table_it_is_given() -> None:
    encoder = random_encoder(16, 2, 1, items=130)
    half_table = encoder.item_embeddings.astype(np.float16)
    histories = [np.array([3, 7]), np.array([5])]
    wide = _scorers.SASRecScorer(encoder)
    assert wide._panels is not None and wide._panels.dtype == np.float32
    encoder.item_embeddings = half_table.astype(np.float32)
    half = _scorers.SASRecScorer(encoder, half_table)
    assert half._panels is not None and half._panels.dtype == np.float16
    expected = encoder.encode(histories) @ encoder.item_embeddings.T
    np.testing.assert_allclose(half.score(histories), expected, rtol=1e-5, atol=1e-5)
    # A table of another shape or type is not the encoder's: the float32 copy is packed.
    for other_table in (half_table[:-1], half_table.astype(np.float32)):
        other = _scorers.SASRecScorer(encoder, other_table)
        assert other._panels is not None and other._panels.dtype == np.float32


def test_panels_layout() -> None:
    table = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    panels = packed_panels(table, width=2)
    assert panels.shape == (3, 3, 2)
    np.testing.assert_array_equal(panels[1], table[2:4].T)
    np.testing.assert_array_equal(panels[2], [[12, 0], [13, 0], [14, 0]])


def test_kernels_refuse_short_buffers() -> None:
    assert native is not None
    users = np.zeros((2, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="out holds"):
        native.matmul(users, 2, 8, np.zeros((1, 8, 64), np.float32), 10, np.zeros(5, np.float32))


def test_softmax_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    # Ordinary rows, a row far above exp's range, one far below it, an odd width.
    scores = rng.standard_normal((4, 1001)).astype(np.float32) * 5
    scores[1] += 500
    scores[2] -= 500
    scores[3, :900] = -1e30  # underflows to exactly 0 after the shift
    compiled = softmax_rows(scores)
    monkeypatch.setattr(_scorers, "native", None)
    np.testing.assert_allclose(compiled, softmax_rows(scores), rtol=1e-5, atol=1e-9)
    assert (compiled[3, :900] == 0).all()
    np.testing.assert_allclose(compiled.sum(axis=1), 1.0, rtol=1e-5)


def random_transitions(items: int = 30) -> TransitionScorer:
    rng = np.random.default_rng(6)
    lengths = rng.integers(0, 6, items)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = rng.integers(0, items, indptr[-1])
    data = rng.random(indptr[-1]).astype(np.float32)
    return TransitionScorer(indptr, indices, data, items, history_len=4, history_decay=0.7)


def test_transitions_match_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = random_transitions()
    rng = np.random.default_rng(7)
    # Repeated items (the same next item reached twice), empty and long histories.
    histories = [np.array([3, 3, 5]), np.zeros(0, dtype=np.int64), rng.integers(0, 30, 9)]
    base = rng.random((3, 30)).astype(np.float32)
    compiled = base.copy()
    scorer.add_into(compiled, histories, 0.4)
    monkeypatch.setattr(_scorers, "native", None)
    reference = base.copy()
    scorer.add_into(reference, histories, 0.4)
    np.testing.assert_allclose(compiled, reference, rtol=1e-6, atol=1e-7)
    assert not np.array_equal(compiled, base)


def test_transitions_refuse_unknown_items() -> None:
    scorer = random_transitions()
    out = np.zeros((1, 30), dtype=np.float32)
    with pytest.raises(IndexError, match="out of range"):
        scorer.add_into(out, [np.array([1, 30])], 1.0)
