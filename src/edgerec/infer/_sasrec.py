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
        batch, dim = x.shape[0], x.shape[2]
        heads, size = self.num_heads, dim // self.num_heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, t.shape[1], heads, size).transpose(0, 2, 1, 3)

        x_query = x[:, -1:, :] if last_only else x
        queries = x_query.shape[1]
        q = split(x_query @ w[p + "q.w"] + w[p + "q.b"])
        k = split(x @ w[p + "k.w"] + w[p + "k.b"])
        v = split(x @ w[p + "v.w"] + w[p + "v.b"])
        logits = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + bias
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
