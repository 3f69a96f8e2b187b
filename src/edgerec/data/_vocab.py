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

    def external(self, indices: Iterable[int]) -> list[str]:
        return [self._ids[int(position)] for position in indices]
