"""Approximate top-N retrieval for large catalogs: a usearch HNSW graph over item embeddings.

Built at export time (inner-product metric, the model's own scoring), stored in the artifact
with a digest, and memory-mapped at load (``view=True``), so workers share one copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Catalogs smaller than this are scored exactly: one matrix-vector product is fast enough.
ANN_MIN_ITEMS = 200_000


def _index_class() -> Any:
    # Imported on first use: small catalogs never pay for loading the library.
    from usearch.index import Index

    return Index


def build_item_index(
    table: np.ndarray, path: Path, connectivity: int = 16, expansion_add: int = 128
) -> None:
    """Write an HNSW index of ``table`` rows (keys = dense item indices) to ``path``."""
    index = _index_class()(
        ndim=table.shape[1],
        metric="ip",
        dtype="f16",
        connectivity=connectivity,
        expansion_add=expansion_add,
    )
    index.add(np.arange(len(table), dtype=np.uint64), np.ascontiguousarray(table, dtype=np.float32))
    index.save(str(path))


class ItemIndex:
    """Memory-mapped HNSW index; ``top`` returns candidate item indices, best first."""

    def __init__(self, path: Path, expansion_search: int = 256) -> None:
        index = _index_class().restore(str(path), view=True)
        if index is None:
            raise ValueError(f"{path}: not a usearch index")
        index.expansion_search = expansion_search
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def top(self, vectors: np.ndarray, count: int) -> np.ndarray:
        """(batch, count) item indices of the largest inner products per query row."""
        matches = self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), count)
        keys = np.asarray(matches.keys, dtype=np.int64)
        return keys.reshape(len(vectors), -1)
