"""Numpy-only forward pass of the SASRec-family encoder (no PyTorch at serve time).

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

from collections.abc import Mapping, Sequence

import numpy as np

LN_EPS = 1e-12
_MASKED = np.float32(-1e9)


def layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    # add.reduce directly: ndarray.mean goes through a Python wrapper that costs more than the
    # arithmetic on one user's (T, 64) activations.
    scale = np.float32(1.0 / x.shape[-1])
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) * scale
    var = np.add.reduce(centred * centred, axis=-1, keepdims=True) * scale
    normed: np.ndarray = centred / np.sqrt(var + np.float32(LN_EPS)) * gain + bias
    return normed


_GELU_A = np.float32(0.7978845608028654)
_GELU_B = np.float32(0.7978845608028654 * 0.044715)
_HALF = np.float32(0.5)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    # x*x rather than x**3: numpy's generic power is ~10x slower on small float32 arrays.
    inner = x * (_GELU_A + _GELU_B * (x * x))
    out: np.ndarray = _HALF * x * (np.float32(1.0) + np.tanh(inner))
    return out


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
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.max_len = int(self.w["pos_emb"].shape[0])
        self.dim = int(self.w["pos_emb"].shape[1])
        self._fused = {f"l{layer}.": self._fuse_qkv(f"l{layer}.") for layer in range(num_layers)}

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

        Histories are cut to the last ``max_len`` items and left-padded to the longest one in the
        batch; padded keys are masked, so the result equals an unpadded single-user pass.
        """
        cut = [np.asarray(h, dtype=np.int64)[-self.max_len :] for h in histories]
        width = max((len(h) for h in cut), default=0)
        if width == 0:
            return np.zeros((len(cut), self.dim), dtype=np.float32)
        batch = len(cut)
        index = np.zeros((batch, width), dtype=np.int64)
        valid = np.zeros((batch, width), dtype=bool)
        for row, history in enumerate(cut):
            if len(history):
                index[row, width - len(history) :] = history
                valid[row, width - len(history) :] = True
        w = self.w
        x = self.item_embeddings[index].astype(np.float32) * valid[..., None]
        x = x + w["pos_emb"][self.max_len - width :]
        x = layer_norm(x, w["emb_ln.g"], w["emb_ln.b"])
        # Causal mask plus key padding: query t may attend valid keys <= t.
        allowed = np.tril(np.ones((width, width), dtype=bool))[None] & valid[:, None, :]
        bias = np.where(allowed, np.float32(0.0), _MASKED)[:, None]  # (B, 1, T, T)
        for layer in range(self.num_layers):
            # Only the last position of the last block is read: skip the other queries there.
            last = layer == self.num_layers - 1
            x = self._block(x, bias[:, :, -1:] if last else bias, f"l{layer}.", last)
        return np.ascontiguousarray(x[:, -1, :])

    def _block(self, x: np.ndarray, bias: np.ndarray, p: str, last_only: bool) -> np.ndarray:
        w = self.w
        batch, width, dim = x.shape
        heads, size = self.num_heads, dim // self.num_heads
        weight, offset = self._fused[p]
        # (B, T, 3d) -> (3, B, heads, T, size): queries, keys and values split per head.
        qkv = (x @ weight + offset).reshape(batch, width, 3, heads, size).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        x_query = x
        if last_only:
            q, x_query = q[:, :, -1:], x[:, -1:, :]
        queries = x_query.shape[1]
        logits = q @ k.transpose(0, 1, 3, 2) + bias
        logits -= logits.max(axis=-1, keepdims=True)
        attn = np.exp(logits)
        attn /= attn.sum(axis=-1, keepdims=True)
        context = (attn @ v).transpose(0, 2, 1, 3).reshape(batch, queries, dim)
        x = layer_norm(
            x_query + context @ w[p + "o.w"] + w[p + "o.b"], w[p + "ln1.g"], w[p + "ln1.b"]
        )
        hidden = gelu_tanh(x @ w[p + "ff1.w"] + w[p + "ff1.b"])
        return layer_norm(
            x + hidden @ w[p + "ff2.w"] + w[p + "ff2.b"], w[p + "ln2.g"], w[p + "ln2.b"]
        )
