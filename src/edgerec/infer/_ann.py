"""Approximate top-N retrieval for large catalogs: a usearch HNSW graph over item embeddings.

Scores are inner products, which graph search handles poorly when item norms differ. Each item
vector gets one extra coordinate sqrt(M^2 - |x|^2) (M = the largest norm), so all items have
norm M and the cosine order of (query, 0) equals the inner-product order: plain cosine HNSW then
answers the model's own question. Candidates are rescored exactly by the engine.

Built at export time, stored in the artifact with a digest, and memory-mapped at load
(``view=True``), so workers share one copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Catalogs smaller than this are scored exactly: one matrix-vector product is fast enough.
ANN_MIN_ITEMS = 200_000
# Measured on generated 200k-item catalogs (benchmarks/ann.py): connectivity 16 and float16
# storage plateaued near recall@100 0.7; 32 links and float32 reached 0.93 with 500 candidates.
_CONNECTIVITY = 32
_EXPANSION_ADD = 256


def _index_class() -> Any:
    # Imported on first use: small catalogs never pay for loading the library.
    from usearch.index import Index

    return Index


def _augment(table: np.ndarray) -> np.ndarray:
    table = np.asarray(table, dtype=np.float32)
    norms = np.linalg.norm(table, axis=1)
    extra = np.sqrt(np.maximum(norms.max() ** 2 - norms**2, 0.0))
    return np.ascontiguousarray(np.hstack([table, extra[:, None]]), dtype=np.float32)


def build_item_index(table: np.ndarray, path: Path) -> None:
    """Write an HNSW index of ``table`` rows (keys = dense item indices) to ``path``."""
    index = _index_class()(
        ndim=table.shape[1] + 1,
        metric="cos",
        dtype="f32",
        connectivity=_CONNECTIVITY,
        expansion_add=_EXPANSION_ADD,
    )
    index.add(np.arange(len(table), dtype=np.uint64), _augment(table))
    index.save(str(path))


class ItemIndex:
    """Memory-mapped HNSW index; ``top`` returns candidate item indices, best first."""

    def __init__(self, path: Path, expansion_search: int = 2048) -> None:
        index = _index_class().restore(str(path), view=True)
        if index is None:
            raise ValueError(f"{path}: not a usearch index")
        index.expansion_search = expansion_search
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def top(self, vectors: np.ndarray, count: int) -> np.ndarray:
        """(batch, count) item indices of the largest inner products per query row."""
        queries = np.asarray(vectors, dtype=np.float32)
        queries = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
        matches = self._index.search(np.ascontiguousarray(queries), count)
        keys = np.asarray(matches.keys, dtype=np.int64)
        return keys.reshape(len(queries), -1)
