"""Approximate top-N retrieval for large catalogs: an inverted-file (IVF) index of item embeddings.

At export, k-means splits the items into about 2*sqrt(N) lists and stores an int8 copy of the
table grouped by list. A query scores every list centroid, then scans only the items of the
`probes` best lists. The scan reads contiguous rows and costs O(probes * N / lists). Measured at
1M items, 2,000 lists and 12 probes (`benchmarks/ann.py`): ~0.1 ms per query, recall@100 0.97
against exact search. An HNSW graph (usearch) needed ~5 ms for that recall here.

int8 rather than float16: the scan multiplies int8 rows with int16 queries in integers (see
`quantize_queries`), and the stored copy is half the size. Candidates are rescored exactly by
the engine.

Everything is plain ``.npy`` arrays in the artifact (names in ``ANN_ARRAYS``), covered by the
manifest digests and memory-mapped at load, so every worker on a node shares one copy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np

from edgerec.infer._half import packed_panels, row_norms
from edgerec.infer._kernels import native

# The smallest catalogs that get an index unless `edgerec train` is told otherwise; smaller
# ones are scored exactly. A sequential model's: generated sasrec artifacts, in process, took
# 70-73 us per answer scored exactly against 84-87 with an index at 25k items, 106-118 against
# 84-92 at 50k and 187-198 against 80-84 at 100k (benchmarks/app.py, 16-64 requests together,
# AMD EPYC, 2026-11-29). The probes scan enough of a 50k catalog for recall@100 of 1.000 on
# generated items (benchmarks/ann.py --items 50000); served from a model trained on 54,542
# items, recall@10 0.994 and recall@100 0.985 against exact scoring, at 78-85 against 115-117
# us per user for 64 users (benchmarks/ann_served.py).
SASREC_ANN_MIN_ITEMS = 50_000
# A hybrid's: its transitions score every item, and the engine ranks an index's candidates by
# the sequential model alone, so only catalogs where exact scoring gets slow take that loss.
HYBRID_ANN_MIN_ITEMS = 200_000
ANN_ARRAYS = ("ann_centroids", "ann_offsets", "ann_items", "ann_vectors", "ann_scales")
# Lists scanned per query, at least. At 1M generated items, 2,000 lists and 200 rescored
# candidates, recall@100 was 0.946 / 0.962 / 0.971 / 0.982 with 8 / 10 / 12 / 16 probes, at
# 0.097 / 0.104 / 0.112 / 0.129 ms per query (benchmarks/ann.py, 2026-11-27).
DEFAULT_PROBES = 12
# Items a query scans, at least: 12 probes of 1M items' 500-item lists. Smaller catalogs have
# shorter lists (~sqrt(N) / 2 items), and 12 of them fell short: at 100k items (632 lists)
# recall@100 was 0.941 with 12 probes, 0.971 with 16 and 0.997 with 32 (0.070 / 0.075 / 0.090
# ms per query; benchmarks/ann.py --items 100000, AMD EPYC, 2026-11-29).
SCANNED_ITEMS = 6_000
_KMEANS_ROUNDS = 12
_SAMPLE_PER_LIST = 64
_ASSIGN_CELLS = 1 << 25  # points x centroids scored per chunk: 128 MB of float32


def default_ann_min_items(model_type: str) -> int:
    """The smallest catalog that gets an index by default, for a model of ``model_type``."""
    return HYBRID_ANN_MIN_ITEMS if model_type == "hybrid" else SASREC_ANN_MIN_ITEMS


def default_probes(items: int, lists: int) -> int:
    """Probes for an index of ``items`` in ``lists`` lists: `DEFAULT_PROBES`, or more, so that
    a query scans about `SCANNED_ITEMS` items; never more than there are lists."""
    per_list = max(items, 1) / max(lists, 1)
    return max(1, min(max(DEFAULT_PROBES, math.ceil(SCANNED_ITEMS / per_list)), lists))


def list_count(items: int) -> int:
    """How many lists a catalog of ``items`` gets: ~2*sqrt(N), so ~N/2000 items are scanned
    per probe at 1M."""
    return max(1, min(items, round(2 * math.sqrt(items))))


def _nearest(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (Euclidean) for every point, in bounded-memory chunks."""
    half_norms = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    chunk = max(1, _ASSIGN_CELLS // len(centroids))
    out = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk] @ centroids.T - half_norms
        out[start : start + chunk] = np.argmax(block, axis=1)
    return out


def _kmeans(table: np.ndarray, lists: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's k-means on a sample (64 points per list is plenty to place the centroids)."""
    sample_size = min(len(table), _SAMPLE_PER_LIST * lists)
    sample = table[rng.choice(len(table), sample_size, replace=False)]
    centroids = sample[rng.choice(sample_size, lists, replace=False)].copy()
    for _ in range(_KMEANS_ROUNDS):
        assignment = _nearest(sample, centroids)
        counts = np.bincount(assignment, minlength=lists)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assignment, sample)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        # An empty list would never be probed: restart it on a random sample point.
        centroids[~filled] = sample[rng.choice(sample_size, int((~filled).sum()))]
    return centroids


def build_item_index(table: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The IVF arrays for ``table`` rows (row i = dense item index i), keyed by ``ANN_ARRAYS``."""
    table = np.ascontiguousarray(table, dtype=np.float32)
    lists = list_count(len(table))
    centroids = _kmeans(table, lists, np.random.default_rng(seed))
    assignment = _nearest(table, centroids)
    items = np.argsort(assignment, kind="stable").astype(np.int32)
    offsets = np.zeros(lists + 1, dtype=np.int64)
    np.cumsum(np.bincount(assignment, minlength=lists), out=offsets[1:])
    grouped = table[items]
    peak = np.abs(grouped).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    vectors = np.clip(np.rint(grouped / scales[:, None]), -127, 127).astype(np.int8)
    return dict(
        zip(ANN_ARRAYS, (centroids, offsets, items, vectors, scales), strict=True),
    )


def quantize_queries(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query as int16 values and a float32 scale (value ~ int * scale), for the scan.

    The scan multiplies them with the int8 rows in integers: exact, so the compiled scan and
    numpy agree to the bit, and the compiled one multiplies int16 pairs (PMADDWD), twice the
    products per instruction of float32: ``top`` at 1M items, batches of 16, went from 61 to
    48 us per query with the probed lists in cache, 69 to 62 us cold (one core). The largest
    value is held below 2**31 / (127 * d), so no row's product overflows an int32; at 64
    dimensions that is the full int16 range, an error of one part in 65,534 of the largest
    value, far below the rows' own int8 rounding. Values that are not finite count as 0.
    """
    finite = np.where(np.isfinite(queries), queries, np.float32(0))
    limit = min(32767, (2**31 - 1) // (127 * finite.shape[1]))
    peak = np.abs(finite).max(axis=1)
    scales = np.where(peak > 0, peak / np.float32(limit), 1.0).astype(np.float32)
    values = np.clip(np.rint(finite / scales[:, None]), -limit, limit).astype(np.int16)
    return np.ascontiguousarray(values), scales


class ItemIndex:
    """The IVF index over memory-mapped arrays; ``top`` returns candidate item indices."""

    def __init__(self, arrays: Mapping[str, np.ndarray], probes: int | None = None) -> None:
        """``probes``: lists scanned per query; by default `default_probes` of the index."""
        # Plain ndarray views of the memory maps: np.memmap slicing costs microseconds per
        # call, and a query slices every probed list.
        self._centroids = np.asarray(arrays["ann_centroids"], dtype=np.float32)
        self._offsets = np.asarray(arrays["ann_offsets"], dtype=np.int64)
        self._items = np.asarray(arrays["ann_items"])
        self._vectors = np.asarray(arrays["ann_vectors"])
        self._scales = np.asarray(arrays["ann_scales"])
        lists = len(self._centroids)
        if len(self._offsets) != lists + 1 or int(self._offsets[-1]) != len(self._items):
            raise ValueError("ANN offsets do not match its lists and items")
        if len(self._vectors) != len(self._items) or len(self._scales) != len(self._items):
            raise ValueError("ANN vectors, scales and items differ in length")
        self.probes = self._clamped(
            default_probes(len(self._items), lists) if probes is None else probes
        )
        # The centroids packed once for the compiled product: OpenBLAS packed all of them
        # (512 KB at 1M items) on every call, where a batch's queries are a few rows. Scoring
        # 2,000 centroids, median us per batch of 1 / 4 / 16 / 64 queries: 9.6 / 121.5 / 151.6
        # / 215.2 -> 9.4 / 19.1 / 48.3 / 124.9 (Xeon, one core, 2026-11-27).
        self._centroid_panels = None if native is None else packed_panels(self._centroids)

    def __len__(self) -> int:
        return len(self._items)

    def _clamped(self, probes: int) -> int:
        """``probes`` as a count of lists there are: at least one, at most all."""
        return max(1, min(probes, len(self._centroids)))

    @functools.cached_property
    def _cosine(self) -> tuple[np.ndarray, np.ndarray]:
        """What a cosine search weighs with, computed on its first use (~4 MB at 1M items):
        1 / each centroid's norm, for the probe choice, and 1 / each int8 row's norm, in place of
        the rows' scales (an int8 row times its scale approximates the item's vector, so its
        product with a query over that vector's norm is the int8 product over the int8 norm)."""
        one = np.float32(1.0)
        return one / row_norms(self._centroids), one / row_norms(self._vectors)

    def top(
        self, vectors: np.ndarray, count: int, cosine: bool = False, probes: int | None = None
    ) -> np.ndarray:
        """(batch, count) item indices with the largest approximate inner products, best first;
        rows are padded with -1 when the probed lists hold fewer than ``count`` items.

        With ``cosine``, the largest approximate cosines instead: the probed lists are the ones
        whose centroids point most the queries' way and each row's product is divided by its
        norm. Trained embeddings' norms vary (a popular item's is larger), and the inner
        products of an item's own vector found almost none of its cosine neighbours (recall@10
        0.07 on a model trained on 54,542 items; benchmarks/similar.py). ``probes`` overrides
        the index's own count.
        """
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        lists = len(self._centroids)
        probes = self.probes if probes is None else self._clamped(probes)
        same_width = queries.shape[1] == self._centroids.shape[1]  # else numpy's error
        if native is not None and self._centroid_panels is not None and same_width:
            nearness = np.empty((len(queries), lists), dtype=np.float32)
            native.matmul(
                queries, len(queries), queries.shape[1], self._centroid_panels, lists, nearness
            )
        else:
            nearness = np.ascontiguousarray(queries @ self._centroids.T, dtype=np.float32)
        scales = self._scales
        if cosine:
            centroid_weights, scales = self._cosine
            nearness *= centroid_weights
        if native is not None and self._compiled_layout(queries.shape[1]):
            quantized = np.empty(queries.shape, dtype=np.int16)
            query_scales = np.empty(len(queries), dtype=np.float32)
            native.quantize(queries, len(queries), queries.shape[1], quantized, query_scales)
            # One compiled call: the probed lists chosen, their int8 rows scored in place and
            # the best kept in a heap, where numpy partitions, casts, multiplies and joins.
            positions = np.empty((len(queries), count), dtype=np.int64)
            native.ivf_scan(
                self._vectors, scales, len(self._items), self._offsets, lists, quantized,
                query_scales, len(queries), queries.shape[1], nearness, probes, count, positions,
            )  # fmt: skip
            found = self._items[positions].astype(np.int64)
            found[positions < 0] = -1
            return found
        quantized, query_scales = quantize_queries(queries)
        probed = np.argpartition(nearness, lists - probes, axis=1)[:, lists - probes :]
        out = np.full((len(queries), count), -1, dtype=np.int64)
        for row, query in enumerate(quantized):
            found = self._scan(query, query_scales[row], probed[row], count, scales)
            out[row, : len(found)] = found
        return out

    def _compiled_layout(self, width: int) -> bool:
        """Whether the arrays are what the compiled scan reads: contiguous int8 rows of the
        queries' width and float32 scales."""
        vectors = self._vectors
        return (
            vectors.dtype == np.int8
            and vectors.ndim == 2
            and vectors.shape[1] == width
            and vectors.flags.c_contiguous
            and self._scales.dtype == np.float32
        )

    def _scan(
        self,
        query: np.ndarray,
        query_scale: np.float32,
        lists: np.ndarray,
        count: int,
        scales: np.ndarray,
    ) -> np.ndarray:
        """The compiled scan's scores in numpy: float64 holds every partial sum of int8 times
        int16 products exactly, so the BLAS product is the exact integer one in any order."""
        starts, ends = self._offsets[lists], self._offsets[lists + 1]
        spans = [slice(lo, hi) for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True)]
        # Each probed list (a contiguous slice) cast and scored on its own: its copy stays in
        # cache for the product. Joining all lists first wrote and re-read a ~1.5 MB copy: 128
        # against 89 us per query at 1M items, 12 probes (throwaway timing, float32 copies).
        vectors, wide = self._vectors, query.astype(np.float64)
        dots = np.concatenate([vectors[span].astype(np.float64) @ wide for span in spans])
        scores = dots.astype(np.float32) * query_scale
        scores *= np.concatenate([scales[span] for span in spans])
        if len(scores) > count:
            order = np.argpartition(scores, len(scores) - count)[len(scores) - count :]
            order = order[np.argsort(-scores[order])]
        else:
            order = np.argsort(-scores)
        # Item ids in the same joined order as the scores.
        items = np.concatenate([self._items[span] for span in spans])
        return items[order].astype(np.int64)
