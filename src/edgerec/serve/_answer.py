"""Answers: one query's ranked items as the JSON the HTTP layer sends, and as `Ranked` entries
for Python callers.

The JSON of a batch's answers is rendered in one compiled call (``render`` of
edgerec/infer/_render.c) straight from dense item indices: building a string, a `Ranked` tuple
and a dict per item cost ~5 us of a Beauty request's ~55. The entries are built only when read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import repeat
from typing import Any, NamedTuple, overload

import numpy as np
import orjson

from edgerec.data import ArrayVocabulary
from edgerec.infer._kernels import native

MODEL = "model"


class Ranked(NamedTuple):
    # A tuple, not a frozen dataclass: ten are built per answer, at a third of the cost.
    item_id: str
    score: float | None
    source: str


class Answer(Sequence[Ranked]):
    """One query's items, best first: ``json`` (the items array, bytes) and ``source`` (the
    first item's, "model" when there is none), read as `Ranked` entries on demand."""

    __slots__ = ("_count", "_entries", "_indices", "_row", "_scores", "_vocab", "json", "source")

    def __init__(
        self,
        json: bytes,
        source: str,
        vocab: ArrayVocabulary | None = None,
        indices: np.ndarray | None = None,
        scores: np.ndarray | None = None,
        entries: list[Ranked] | None = None,
        row: int = 0,
        count: int = 0,
    ) -> None:
        """``indices`` and ``scores``: the batch's (rows, width) arrays, of which this answer
        is the first ``count`` of row ``row``; sliced only when the entries are read (two
        slices per answer cost as much as the rest of its Python, and HTTP sends ``json``)."""
        self.json = json
        self.source = source
        self._vocab, self._indices, self._scores = vocab, indices, scores
        self._row, self._count = row, count
        self._entries = entries

    def entries(self) -> list[Ranked]:
        if self._entries is None:
            assert self._vocab is not None and self._indices is not None
            assert self._scores is not None
            row, count = self._row, self._count
            self._entries = ranked_list(
                self._vocab.external(self._indices[row, :count]),
                self._scores[row, :count].tolist(),
                self.source,
            )
        return self._entries

    @overload
    def __getitem__(self, index: int) -> Ranked: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Ranked]: ...
    def __getitem__(self, index: int | slice) -> Ranked | Sequence[Ranked]:
        return self.entries()[index]

    def __len__(self) -> int:
        return self._count if self._entries is None else len(self._entries)

    def __iter__(self) -> Iterator[Ranked]:
        return iter(self.entries())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Answer):
            return self.entries() == other.entries()
        return isinstance(other, list) and self.entries() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Answer({self.entries()!r})"


class Renderer:
    """Renders answers over one vocabulary and catalog: every item's id (the vocabulary's
    fixed-width UTF-8 array) and, for catalog items, its ``,"name":...,"category":...``.
    ``positions``: each catalog item's dense index, -1 where unknown (`Vocabulary.positions`
    of the catalog, which the engine has already looked up)."""

    def __init__(
        self,
        vocab: ArrayVocabulary,
        catalog: Mapping[str, tuple[str, str]],
        positions: np.ndarray | None = None,
    ) -> None:
        self.vocab = vocab
        self._catalog = catalog
        self._ids = vocab.utf8_ids
        self._suffixes = b""
        self._offsets: np.ndarray | None = None
        if catalog:
            if positions is None:
                positions = vocab.positions(catalog)
            suffixes = [b""] * len(vocab)
            for item, position in zip(catalog, positions.tolist(), strict=True):
                if position >= 0:
                    name, category = catalog[item]
                    suffixes[position] = (
                        b"," + orjson.dumps({"name": name, "category": category})[1:-1]
                    )
            self._offsets = np.zeros(len(vocab) + 1, dtype=np.int64)
            np.cumsum([len(suffix) for suffix in suffixes], out=self._offsets[1:])
            self._suffixes = b"".join(suffixes)

    def answers(
        self, columns: np.ndarray, scores: np.ndarray, counts: Sequence[int], source: str
    ) -> list[Answer]:
        """One answer per row: its first ``counts[r]`` columns (dense indices) with their
        ``scores`` (rows x width, the same shape)."""
        columns = np.ascontiguousarray(columns, dtype=np.int64)
        texts = self.render(columns, scores, counts, source)
        vocab = self.vocab
        return [
            Answer(text, source, vocab, columns, scores, None, row, count)
            for row, (text, count) in enumerate(zip(texts, counts, strict=True))
        ]

    def render(
        self, columns: np.ndarray, scores: np.ndarray, counts: Sequence[int], source: str
    ) -> list[bytes]:
        """Each row's items array as JSON bytes (see `answers`)."""
        rows, width = columns.shape
        if native is None or not len(self._ids):
            return [
                self._render_row(columns[row, :count], scores[row, :count].tolist(), source)
                for row, count in enumerate(counts)
            ]
        numbers = orjson.dumps(scores.reshape(-1).tolist())
        return native.render(  # type: ignore[no-any-return]
            columns, rows, width, np.asarray(counts, dtype=np.int64), numbers, self._ids,
            self._ids.dtype.itemsize, len(self._ids), self._suffixes, self._offsets,
            source.encode(),
        )  # fmt: skip

    def _render_row(self, columns: np.ndarray, scores: list[float], source: str) -> bytes:
        """The numpy-only rendering, and the reference of the compiled one (same bytes)."""
        return json_items(ranked_list(self.vocab.external(columns), scores, source), self)

    def describe(self, item_id: str) -> tuple[str, str] | None:
        return self._catalog.get(item_id)

    def of(self, entries: list[Ranked], source: str = MODEL) -> Answer:
        """An answer of given entries (re-ranking: some may be unscored); ``source`` is the
        answer's when there are none."""
        return Answer(
            json_items(entries, self), entries[0].source if entries else source, entries=entries
        )


def json_items(entries: Sequence[Ranked], renderer: Renderer) -> bytes:
    items = []
    for entry in entries:
        item: dict[str, Any] = {
            "item_id": entry.item_id,
            "score": entry.score,
            "source": entry.source,
        }
        described = renderer.describe(entry.item_id)
        if described is not None:
            item["name"], item["category"] = described
        items.append(item)
    return orjson.dumps(items)


def ranked_list(ids: list[str], scores: list[float], source: str) -> list[Ranked]:
    """Entries from parallel lists, built in C: ``Ranked(...)`` runs Python code per item."""
    return list(map(tuple.__new__, repeat(Ranked), zip(ids, scores, repeat(source))))
