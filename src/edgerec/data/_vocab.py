"""Dense index <-> external string id mapping that ships inside every artifact."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class Vocabulary:
    """Maps external ids (strings) to dense indices ``0..len-1`` and back.

    The order is a seeded shuffle of the distinct ids, so no model and no tie-break can
    learn anything from the order in which a source file numbered its items (the shared
    benchmark files number items by first appearance; see issue 2).
    """

    def __init__(self, ids: Sequence[str]) -> None:
        self._ids = list(ids)
        self._index = {value: position for position, value in enumerate(self._ids)}
        if len(self._index) != len(self._ids):
            raise ValueError("vocabulary ids must be unique")

    @classmethod
    def build(cls, ids: Iterable[str], seed: int) -> Vocabulary:
        distinct = sorted(set(ids))
        order = np.random.default_rng(seed).permutation(len(distinct))
        return cls([distinct[position] for position in order])

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external_id: object) -> bool:
        return external_id in self._index

    def index(self, external_id: str) -> int:
        """Dense index of ``external_id``; raises KeyError when unknown."""
        return self._index[external_id]

    def get(self, external_id: str) -> int | None:
        return self._index.get(external_id)

    def lookup(self, external_ids: Iterable[str]) -> np.ndarray:
        """Dense indices of known ids, in order; unknown ids are skipped."""
        found = [self._index.get(value) for value in external_ids]
        return np.array([value for value in found if value is not None], dtype=np.int32)

    def positions(self, external_ids: Iterable[str]) -> np.ndarray:
        """Dense index of every id, -1 where unknown (same length and order as the input)."""
        return np.array([self._index.get(value, -1) for value in external_ids], dtype=np.int64)

    def external(self, indices: Iterable[int]) -> list[str]:
        ids = self._ids
        if isinstance(indices, np.ndarray):
            return [ids[position] for position in indices.tolist()]
        return [ids[int(position)] for position in indices]


_NO_IDS = np.zeros(0, dtype=np.int32)
_NO_IDS.setflags(write=False)
# Up to this many ids the artifact vocabulary also builds a dict at load (~30 ms at 100k): a
# lookup then costs ~0.1 us instead of a ~10 us binary search.
DICT_MAX_IDS = 100_000


class ArrayVocabulary:
    """The artifact's vocabulary: UTF-8 ids in dense-index order, the same ids sorted, and the
    dense index of each sorted id.

    All are memory-mapped ``.npy`` arrays, so a large catalog loads without building anything
    (a dict of 1M ids costs ~0.3 s and ~150 MB in every worker) and is searched by bisection.
    Same queries as `Vocabulary`.
    """

    def __init__(self, ids: np.ndarray, sorted_ids: np.ndarray, sorted_index: np.ndarray) -> None:
        if not (ids.dtype.kind == sorted_ids.dtype.kind == "S") or not (
            len(ids) == len(sorted_ids) == len(sorted_index)
        ):
            raise ValueError("vocabulary needs bytes id arrays and an index of equal length")
        # Plain ndarray views: indexing a np.memmap costs a few microseconds more per call.
        self._ids = np.asarray(ids)
        self._sorted = np.asarray(sorted_ids)
        self._sorted_index = np.asarray(sorted_index)
        self._width = sorted_ids.dtype.itemsize
        self._small = Vocabulary(self.ids) if len(ids) <= DICT_MAX_IDS else None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external_id: object) -> bool:
        return isinstance(external_id, str) and self.get(external_id) is not None

    @property
    def ids(self) -> list[str]:
        return [value.decode() for value in self._ids.tolist()]

    @property
    def utf8_ids(self) -> np.ndarray:
        """The ids in dense-index order as fixed-width UTF-8 (NUL-padded: no id holds a NUL)."""
        return self._ids

    def positions(self, external_ids: Iterable[str]) -> np.ndarray:
        """Dense index of every id, -1 where unknown (same length and order as the input)."""
        if self._small is not None:
            return self._small.positions(external_ids)
        wanted = [value.encode() for value in external_ids]
        out = np.full(len(wanted), -1, dtype=np.int64)
        # An id wider than the stored ones cannot be known, and the fixed-width cast would
        # truncate it into a false match; numpy also drops trailing NULs (refused at export).
        fits = [row for row, value in enumerate(wanted) if len(value) <= self._width]
        if not fits or not len(self._ids):
            return out
        query = np.array([wanted[row] for row in fits], dtype=self._sorted.dtype)
        # A sorted copy rather than `sorter=`: numpy checks a sorter's bounds on every call,
        # O(N) (~0.25 ms at 1M ids).
        found = np.minimum(np.searchsorted(self._sorted, query), len(self._sorted) - 1)
        hit = self._sorted[found] == query
        out[np.asarray(fits)[hit]] = self._sorted_index[found[hit]]
        return out

    def get(self, external_id: str) -> int | None:
        if self._small is not None:  # /similar and each event's known-item check
            return self._small.get(external_id)
        position = int(self.positions([external_id])[0])
        return None if position < 0 else position

    def index(self, external_id: str) -> int:
        """Dense index of ``external_id``; raises KeyError when unknown."""
        position = self.get(external_id)
        if position is None:
            raise KeyError(external_id)
        return position

    def lookup(self, external_ids: Iterable[str]) -> np.ndarray:
        """Dense indices of known ids, in order; unknown ids are skipped."""
        if self._small is not None:  # the request path of every small catalog: no detour
            return self._small.lookup(external_ids)
        positions = self.positions(external_ids)
        return positions[positions >= 0].astype(np.int32)

    def lookup_many(self, groups: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """`lookup` of every group; empty groups (no exclusions, a new shopper) share one
        read-only empty array. All groups' ids are resolved at once and each group is a slice
        of the result: per call, numpy's overhead costs more than the lookup of a few ids."""
        if not any(len(group) for group in groups):  # exclusions, most often none at all
            return [_NO_IDS] * len(groups)
        positions = self.positions([value for group in groups for value in group])
        everywhere_known = bool((positions >= 0).all())
        positions = positions.astype(np.int32)
        out = []
        end = 0
        for group in groups:
            start, end = end, end + len(group)
            if not group:
                out.append(_NO_IDS)
            elif everywhere_known:
                out.append(positions[start:end])
            else:
                found = positions[start:end]
                out.append(found[found >= 0])
        return out

    def external(self, indices: Iterable[int]) -> list[str]:
        if self._small is not None:
            return self._small.external(indices)
        rows = indices if isinstance(indices, np.ndarray) else np.fromiter(indices, np.int64)
        return [value.decode() for value in self._ids[rows].tolist()]
