"""Batch scorers: histories (item-index arrays, oldest first) -> (batch, num_items) scores.

No PyTorch: this module is the inference half of every model and is imported by serving. The
compiled kernels (`_kernels`) take over where they are built; numpy is the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from edgerec.infer._half import packed_panels, transposed_float32
from edgerec.infer._kernels import joined, native
from edgerec.infer._sasrec import SASRecEncoder, constant_column


class Scorer(Protocol):
    num_items: int

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(batch, num_items) float32 scores; higher is better."""
        ...


class PopularityScorer:
    """Same ranking for everyone: how often each item was interacted with."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, dtype=np.float32)
        self.num_items = len(self.counts)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(histories), self.num_items)).copy()


# The popularity prior's largest value, far below the transition scores' differences that
# matter: it orders what the transitions leave tied, most often at zero (items none of the
# recent ones led to), the popular first rather than by index.
PRIOR_SCALE = 1e-7


class TransitionScorer:
    """Sum of the recent history items' next-item distributions, newer items weighing more.

    The transition table is CSR: row ``i`` lists items that followed item ``i`` in training
    and their normalised weights. ``prior`` (popularity counts), scaled to at most
    ``PRIOR_SCALE``, is added to every score: a history whose items lead to fewer than k
    others is filled with popular items, not with the lowest indices.
    """

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        num_items: int,
        history_len: int,
        history_decay: float,
        prior: np.ndarray | None = None,
    ) -> None:
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int32)
        self.data = np.asarray(data, dtype=np.float32)
        self.num_items = num_items
        self.history_len = history_len
        self.history_decay = history_decay
        self.prior: np.ndarray | None = None
        if prior is not None and len(prior) and float(np.max(prior)) > 0:
            scaled = np.asarray(prior, dtype=np.float64) * (PRIOR_SCALE / float(np.max(prior)))
            self.prior = scaled.astype(np.float32)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        shape = (len(histories), self.num_items)
        if self.prior is None:
            out = np.zeros(shape, dtype=np.float32)
        else:
            out = np.broadcast_to(self.prior, shape).copy()
        self.add_into(out, histories, 1.0)
        return out

    def add_into(self, out: np.ndarray, histories: Sequence[np.ndarray], weight: float) -> None:
        """``out += weight * score(histories)``, touching only the transitions' entries."""
        if (
            native is not None
            and out.dtype == np.float32
            and out.flags.c_contiguous
            and out.shape[1:] == (self.num_items,)
        ):
            # One compiled loop instead of ~25 numpy calls (~70 us for a lone request).
            items, offsets = joined(self.recent(histories))
            native.add_transitions(
                out, len(out), self.num_items, self.indptr, self.indices, self.data, items,
                offsets, self.history_decay, weight,
            )  # fmt: skip
            return
        rows, columns, values = self._entries(histories)
        if len(columns):
            # add.at: two recent items can lead to the same next item.
            flat = out.reshape(-1)
            np.add.at(flat, rows * self.num_items + columns, np.float32(weight) * values)

    def recent(self, histories: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Every user's last ``history_len`` items, newest first."""
        return [np.asarray(history[-self.history_len :])[::-1] for history in histories]

    def _entries(self, histories: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        """(row, item, weight) of every transition the recent history items contribute."""
        items, offsets = joined(self.recent(histories))
        counts = np.diff(offsets)
        ages = np.concatenate([np.zeros(0, dtype=np.int64), *(np.arange(n) for n in counts)])
        owners = np.repeat(np.arange(len(counts)), counts)
        starts, lengths = self.indptr[items], self.indptr[items + 1] - self.indptr[items]
        total = int(lengths.sum())
        # Positions of every CSR segment, concatenated: start of its segment + offset inside.
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        positions = shift + np.arange(total)
        decay = np.float32(self.history_decay) ** ages.astype(np.float32)
        values = self.data[positions] * np.repeat(decay, lengths)
        return np.repeat(owners, lengths), self.indices[positions].astype(np.int64), values


class SASRecScorer:
    """Dot products of the encoded user vector with every item embedding.

    ``half_table``: the float16 item table the encoder's float32 one was widened from (a
    float16 artifact's), packed for the compiled product instead of the float32 copy: the same
    products from half the bytes, which is what a small batch's product waits for.
    """

    def __init__(self, encoder: SASRecEncoder, half_table: np.ndarray | None = None) -> None:
        self.encoder = encoder
        self.item_embeddings = encoder.item_embeddings
        self.num_items = len(self.item_embeddings)
        # A (d, items) float32 copy for in-memory tables: a batch of users times a contiguous
        # transposed table runs ~2.5x faster in BLAS than against the transposed view. A
        # memory-mapped (ANN-sized) table stays shared and uncopied.
        table = self.item_embeddings
        in_memory = isinstance(table, np.ndarray) and not isinstance(table, np.memmap)
        copied = in_memory and table.dtype == np.float32
        # With the compiled kernels, the copy is packed in panels of 64 items instead: they
        # read each panel once for all users of a batch, where OpenBLAS packs the whole table
        # on every product (~3x the cost of one read for a handful of users).
        self._panels = None
        if copied and native is not None:
            if (
                half_table is not None
                and half_table.dtype == np.float16
                and half_table.shape == table.shape
            ):
                self._panels = packed_panels(half_table, dtype=np.float16)
            else:
                self._panels = packed_panels(table)
        self._by_dim = transposed_float32(table) if copied and self._panels is None else table.T

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        users = self.encoder.encode(histories)
        if self._panels is None or native is None:
            return users @ self._by_dim  # type: ignore[no-any-return]
        scores = np.empty((len(users), self.num_items), dtype=np.float32)
        product = native.matmul_half if self._panels.dtype == np.float16 else native.matmul
        product(users, len(users), users.shape[1], self._panels, self.num_items, scores)
        return scores


_UNSHIFTED_MAX = 60.0


def softmax_rows(scores: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Row-wise softmax; ``inplace`` overwrites ``scores`` (a fresh matrix nobody else reads):
    at serving batch sizes the temporaries cost more than the arithmetic.

    Row sums as a product with a column of ones and one reciprocal per row: on (16, 12,101)
    scores that is ~4x faster than ``sum(axis=1)`` and a divide over every entry.
    """
    out = scores if inplace else scores.copy()
    compiled = native is not None and out.dtype == np.float32 and out.flags.c_contiguous
    if compiled and out.ndim == 2 and out.size:
        assert native is not None
        native.softmax(out, out.shape[0], out.shape[1])
        return out
    peak = out.max(axis=1, keepdims=True)
    # Softmax ignores a shift; the row maximum is subtracted only to keep exp in range. With
    # every maximum in [0, 60], exp of the raw scores is already safe: the top term is a normal
    # float, every term the shift would keep normal stays normal, and a row of 1M terms sums
    # below 1e33. That skips one pass over the (batch, items) matrix.
    if peak.size and not (float(peak.min()) >= 0.0 and float(peak.max()) <= _UNSHIFTED_MAX):
        out -= peak
    np.exp(out, out=out)
    totals = out @ constant_column(out.shape[1], 1.0)
    np.reciprocal(totals, out=totals)
    out *= totals
    return out


def fuse(probabilities: np.ndarray, transitions: np.ndarray, weight: float) -> np.ndarray:
    """The hybrid score: next-item probabilities plus ``weight`` times transition scores."""
    fused: np.ndarray = probabilities + np.float32(weight) * transitions
    return fused


class HybridScorer:
    """The sequential model's next-item probabilities plus ``weight`` times transition scores.

    Transition rows are normalised distributions, so both terms are on a probability scale and
    one weight, chosen on validation, fuses them.
    """

    def __init__(
        self, sequential: SASRecScorer, transitions: TransitionScorer, weight: float
    ) -> None:
        self.sequential = sequential
        self.transitions = transitions
        self.weight = weight
        self.num_items = sequential.num_items

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return self.finish(self.sequential.score(histories), histories)

    def finish(self, scores: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        """The hybrid's scores of ``histories`` from the sequential model's (``scores``, a
        fresh float32 matrix, overwritten and returned)."""
        # The transitions are added into the probabilities: no dense transition matrix.
        scores = softmax_rows(scores, inplace=True)
        if self.weight != 0.0:
            self.transitions.add_into(scores, histories, self.weight)
        return scores
