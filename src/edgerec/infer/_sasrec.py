"""Forward pass of the SASRec-family encoder without PyTorch: numpy here (the reference), the
compiled kernel of ``_native.c`` where it is built.

Architecture (mirrored exactly by ``edgerec.train._sasrec_torch``): item + learned position
embeddings, LayerNorm, then ``num_layers`` post-LN blocks of causal multi-head self-attention and
a GELU (tanh) feed-forward. The hidden state of the last position is the user vector; scores are
its dot products with the item embeddings (tied input/output table).

Weight names (arrays in ``encoder.npz``)::

    pos_emb (L, d)   emb_ln.g/b (d,)
    l{i}.q.w (d, d) l{i}.q.b (d,)  ... k, v, o          # y = x @ w + b
    l{i}.ln1.g/b    l{i}.ff1.w (d, 4d) l{i}.ff1.b  l{i}.ff2.w (4d, d) l{i}.ff2.b  l{i}.ln2.g/b
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from edgerec.infer._half import aligned_zeros, to_float32
from edgerec.infer._kernels import integer_groups, native

LN_EPS = 1e-12
_MASKED = np.float32(-1e9)


@functools.cache
def _attention_bias(width: int) -> np.ndarray:
    """(width + 1, width, width) additive attention masks, one per left-padding length: with
    ``pad`` padded positions, query t may attend keys ``pad <= j <= t`` (0), never others
    (-1e9). Indexing it by each row's padding builds a batch's mask in one gather. Read-only,
    shared; at most ~0.5 MB, for the longest history."""
    query = np.arange(width)[:, None]
    key = np.arange(width)[None, :]
    pad = np.arange(width + 1)[:, None, None]
    bias = np.where((key <= query) & (key >= pad), np.float32(0.0), _MASKED)
    bias.setflags(write=False)
    return bias


@functools.cache
def constant_column(length: int, value: float) -> np.ndarray:
    """A read-only, shared (length, 1) float32 column of ``value``: row sums and means as one
    BLAS product."""
    column = np.full((length, 1), value, dtype=np.float32)
    column.setflags(write=False)
    return column


def layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """LayerNorm over the last axis of a 2-D ``x`` (rows of activations).

    Row means as a product with a (d, 1) column of 1/d: a BLAS call beats ``add.reduce`` on
    these narrow rows; the rest is in place on one temporary.
    """
    mean = constant_column(x.shape[-1], 1.0 / x.shape[-1])
    centred: np.ndarray = x - x @ mean
    spread = (centred * centred) @ mean
    spread += np.float32(LN_EPS)
    np.sqrt(spread, out=spread)
    np.reciprocal(spread, out=spread)  # one divide per row, then products
    centred *= spread
    centred *= gain
    centred += bias
    return centred


_GELU_A = np.float32(-2 * 0.7978845608028654)
_GELU_B = np.float32(-2 * 0.7978845608028654 * 0.044715)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation, as ``x * sigmoid(2u)`` (equal to ``0.5x(1 + tanh(u))``):
    numpy's float32 ``exp`` is about twice as fast as its ``tanh``."""
    z: np.ndarray = x * x
    z *= _GELU_B
    z += _GELU_A
    z *= x  # -2u, u = sqrt(2/pi) (x + 0.044715 x^3)
    # exp overflows to inf for x below about -10, and x / inf is the 0 that GELU tends to
    # there: silencing the warning costs less than clipping every value first.
    with np.errstate(over="ignore"):
        np.exp(z, out=z)
    z += np.float32(1.0)
    np.divide(x, z, out=z)
    return z


class SASRecEncoder:
    """Encodes item-index histories into user vectors with plain numpy matrix math."""

    def __init__(
        self,
        weights: Mapping[str, np.ndarray],
        item_embeddings: np.ndarray,
        num_layers: int,
        num_heads: int,
    ) -> None:
        self.w = {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}
        self.item_embeddings = item_embeddings
        # The table as a plain ndarray view, for whoever reads its rows per request (history
        # rows here, ANN rescoring and /similar in the engine): np.memmap's Python __getitem__
        # adds to each read (40 rows of the memory-mapped 1M-item table: 4.8 -> 2.7 us).
        self.rows = np.asarray(item_embeddings)
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.max_len = int(self.w["pos_emb"].shape[0])
        self.dim = int(self.w["pos_emb"].shape[1])
        # What the compiled pass reads rows from: the table itself when it is contiguous
        # float32 or float16 (a memory-mapped one included), else a float32 copy. None for a
        # table whose rows are not d wide (numpy's pass then refuses it).
        self._gather_table: np.ndarray | None = None
        if self.rows.ndim == 2 and self.rows.shape[1] == self.dim:
            plain = self.rows.dtype in (np.float32, np.float16) and self.rows.flags.c_contiguous
            self._gather_table = self.rows if plain else np.ascontiguousarray(to_float32(self.rows))
        self._fused = {f"l{layer}.": self._fuse_qkv(f"l{layer}.") for layer in range(num_layers)}
        # The last block reads one query per user: its query and key-value projections apart.
        weight, bias = self._fused[f"l{num_layers - 1}."]
        self._last_query = (weight[:, : self.dim].copy(), bias[: self.dim])
        self._last_key_value = (weight[:, self.dim :].copy(), bias[self.dim :])
        self.ff = int(self.w["l0.ff1.w"].shape[1])
        self._packed = self._pack() if native is not None else None

    def _pack(self) -> np.ndarray:
        """Every weight in one float32 buffer, in the order the compiled kernel reads them."""
        w = self.w
        parts = [w["emb_ln.g"], w["emb_ln.b"]]
        for layer in range(self.num_layers):
            p = f"l{layer}."
            parts += [*self._fused[p], w[p + "o.w"], w[p + "o.b"], w[p + "ln1.g"], w[p + "ln1.b"]]
            parts += [w[p + "ff1.w"], w[p + "ff1.b"], w[p + "ff2.w"], w[p + "ff2.b"]]
            parts += [w[p + "ln2.g"], w[p + "ln2.b"]]
        flat = np.concatenate([np.ravel(part) for part in parts])
        # With d a multiple of 16, so is every part: aligning the start aligns each weight's rows.
        packed = aligned_zeros(flat.shape)
        packed[:] = flat
        packed.setflags(write=False)
        return packed

    def _fuse_qkv(self, p: str) -> tuple[np.ndarray, np.ndarray]:
        """One (d, 3d) projection for queries, keys and values, the 1/sqrt(head size) of the
        attention logits folded into the query part: per user, numpy's per-call overhead
        outweighs the arithmetic, so fewer, larger products are faster."""
        w = self.w
        scale = np.float32(1.0 / np.sqrt(self.dim // self.num_heads))
        weight = np.hstack([w[p + "q.w"] * scale, w[p + "k.w"], w[p + "v.w"]])
        bias = np.concatenate([w[p + "q.b"] * scale, w[p + "k.b"], w[p + "v.b"]])
        return np.ascontiguousarray(weight), bias

    def encode(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(batch, d) user vectors; each history holds item indices, oldest first.

        Histories are cut to the last ``max_len`` items. The compiled pass takes each one
        unpadded; the numpy one left-pads them to the longest in the batch and masks the padded
        keys, so both equal a single-user pass. An empty history gives a zero vector.
        """
        if self._packed is not None and native is not None and self._gather_table is not None:
            if len(histories) == 0:  # len: a 2-D array of histories has no truth value
                return np.zeros((0, self.dim), dtype=np.float32)
            return self._encode_native(histories)
        cut = [np.asarray(h)[-self.max_len :] for h in histories]
        lengths = [len(h) for h in cut]
        if max(lengths, default=0) == 0:
            return np.zeros((len(cut), self.dim), dtype=np.float32)
        out = self._encode_numpy(self._padded_inputs(cut, lengths), lengths)
        if 0 in lengths:
            out[np.equal(lengths, 0)] = 0.0
        return out

    def _padded_inputs(self, cut: list[np.ndarray], lengths: list[int]) -> np.ndarray:
        """Embedded, position-added (batch, width, d) inputs, left-padded to the longest."""
        width = max(lengths)
        # Padded positions hold item 0: their rows are only ever read as masked keys, whose
        # attention weight is exactly 0, so any finite row does.
        index = np.zeros((len(cut), width), dtype=np.int64)
        for row, history in enumerate(cut):
            index[row, width - len(history) :] = history
        # Fancy indexing copies, so the in-place steps that follow never touch the table.
        x = to_float32(self.rows[index])
        x += self.w["pos_emb"][self.max_len - width :]
        return x

    def _encode_native(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """The compiled forward pass; it cuts and joins the histories itself."""
        assert native is not None and self._packed is not None
        table = self._gather_table
        assert table is not None
        out = np.empty((len(histories), self.dim), dtype=np.float32)
        arguments = (
            self.w["pos_emb"], self.max_len, self._packed, self.dim, self.num_heads, self.ff,
            self.num_layers, LN_EPS, out,
        )  # fmt: skip
        half = table.dtype == np.float16
        try:
            # The kernel reads the histories' rows from the table itself (float16 ones widened).
            native.encode(table, half, histories, *arguments)
        except TypeError:  # not int32 or int64 arrays: lists, say
            native.encode(table, half, integer_groups(histories), *arguments)
        return out

    def _encode_numpy(self, x: np.ndarray, lengths: list[int]) -> np.ndarray:
        """The reference forward pass over embedded, position-added (batch, width, d) inputs."""
        w = self.w
        batch, width = x.shape[0], x.shape[1]
        # Rows of (batch * width, d) from here: numpy runs a 3-D @ 2-D product as one small
        # product per user, a 2-D one as a single BLAS call.
        x = layer_norm(x.reshape(batch * width, self.dim), w["emb_ln.g"], w["emb_ln.b"])
        pads = np.subtract(width, lengths)
        bias = _attention_bias(width)[pads][:, None]  # (B, 1, T, T)
        for layer in range(self.num_layers):
            # Only the last position of the last block is read: skip the other queries there.
            last = layer == self.num_layers - 1
            x = self._block(x, batch, bias[:, :, -1:] if last else bias, f"l{layer}.", last)
        return x  # (batch, d): the last block keeps one row per user

    def _block(
        self, x: np.ndarray, batch: int, bias: np.ndarray, p: str, last_only: bool
    ) -> np.ndarray:
        """One post-LN block over ``x`` (batch * width, d); returns (batch * queries, d)."""
        w = self.w
        dim = self.dim
        width = x.shape[0] // batch
        heads, size = self.num_heads, dim // self.num_heads
        if last_only:
            # Keys and values of every position, the query of the last one only.
            weight, offset = self._last_key_value
            kv = x @ weight
            kv += offset
            kv = kv.reshape(batch, width, 2, heads, size).transpose(2, 0, 3, 1, 4)
            k, v = kv[0], kv[1]
            x_query = x[width - 1 :: width]
            weight, offset = self._last_query
            q = x_query @ weight
            q += offset
            q = q.reshape(batch, 1, heads, size).transpose(0, 2, 1, 3)
        else:
            weight, offset = self._fused[p]
            qkv = x @ weight
            qkv += offset
            # (B, T, 3d) -> (3, B, heads, T, size): queries, keys and values split per head.
            qkv = qkv.reshape(batch, width, 3, heads, size).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            x_query = x
        queries = q.shape[2]
        logits = q @ k.transpose(0, 1, 3, 2)
        logits += bias
        logits -= logits.max(axis=-1, keepdims=True)
        attn = np.exp(logits, out=logits)
        # Row sums as one BLAS product over all heads' rows, then one reciprocal per row.
        totals = attn.reshape(-1, width) @ constant_column(width, 1.0)
        np.reciprocal(totals, out=totals)
        attn *= totals.reshape(batch, heads, queries, 1)
        context = (attn @ v).transpose(0, 2, 1, 3).reshape(batch * queries, dim)
        mixed = context @ w[p + "o.w"]
        mixed += w[p + "o.b"]
        mixed += x_query
        x = layer_norm(mixed, w[p + "ln1.g"], w[p + "ln1.b"])
        hidden = x @ w[p + "ff1.w"]
        hidden += w[p + "ff1.b"]
        out = gelu_tanh(hidden) @ w[p + "ff2.w"]
        out += w[p + "ff2.b"]
        out += x
        return layer_norm(out, w[p + "ln2.g"], w[p + "ln2.b"])
