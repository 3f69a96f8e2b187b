"""Recommendation logic, free of HTTP: history -> scores -> filters -> top-k."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from edgerec.artifact import LoadedModel, artifact_digest
from edgerec.infer import (
    HybridScorer,
    SASRecScorer,
    gather_float32,
    row_blocks,
    row_norms,
    to_float32,
)
from edgerec.infer._kernels import native
from edgerec.serve._answer import MODEL, Answer, Ranked, Renderer
from edgerec.serve._topk import (
    ANY_CATEGORY,
    filter_row,
    top_k_candidates,
    top_k_filtered,
    top_k_rows,
)

# Candidates fetched from the ANN index per request (at least 4k) before exact rescoring and
# filtering. With 12 probes and 200 candidates: recall@100 0.97 against exact search at 1M
# generated items (benchmarks/ann.py).
ANN_CANDIDATES = 200
# Candidates /similar rescores by cosine when the ANN index serves it (its cosine search,
# SIMILAR_PROBES_FACTOR times its probes). recall@10 against the exact pass, P50: 1.000, 0.36
# against 154 ms at 1M generated items; 0.977, 0.37 against 6.3 ms for a model trained on
# 54,542 items (benchmarks/similar.py, AMD EPYC, 2026-11-29).
SIMILAR_CANDIDATES = 1000
# Lists /similar probes, as a multiple of a recommendation's: one query per request, and a
# cosine search of k-means lists built on the raw vectors misses more than an inner-product
# one. Trained on 54,542 items, recall@10 against the exact pass was 0.92 at the index's 52
# probes and 0.98 at 100 (throwaway numpy copy of the search, 200 items).
SIMILAR_PROBES_FACTOR = 2
POPULAR = "popular"
# Up to this many seen + excluded items, ANN and popular-head answers drop them by direct
# comparison (np.isin sorts, which costs more for a history of tens of items).
_SMALL_SET = 64
# Popularity answers are scored this many cells at a time: a batch of new shoppers on a 1M
# catalog must not allocate a (batch, 1M) matrix.
_FALLBACK_CELLS = 1 << 22
# The most popular items, ranked once per model: a new shopper's answer is this list minus
# their filters. Only filters that leave fewer than k of them send a query to a full pass.
_POPULAR_HEAD = 1024
# The code of a category the catalog does not have: no item's code (each is >= -1).
_UNKNOWN_CATEGORY = -2


# Stands for a history not resolved yet, until `Engine._known` fills its place.
_NOTHING = np.zeros(0, dtype=np.int32)
_NOTHING.setflags(write=False)


class Query(NamedTuple):
    """One recommendation request: a history (external ids, oldest first) and its filters.

    A tuple: one is built per request, at a third of a frozen dataclass's cost."""

    history: Sequence[str]
    k: int
    exclude: Sequence[str] = ()
    category: str | None = None
    candidates: Sequence[str] | None = None
    # (shopper id, id of their newest event): the engine keeps the history's dense indices
    # for the shopper until that event changes, instead of looking up every item each time.
    shopper: tuple[str, int] | None = None


class Engine:
    """Answers recommendation queries from one loaded artifact and the shop's catalog."""

    def __init__(
        self, model: LoadedModel, catalog: Mapping[str, tuple[str, str]], shoppers: int = 0
    ) -> None:
        """``shoppers``: how many shoppers' resolved histories to keep (see `Query.shopper`)."""
        self.model = model
        self._remembered = shoppers
        # shopper -> (newest event id, their history's dense indices); oldest first.
        self._shoppers: dict[str, tuple[int, np.ndarray]] = {}
        self.vocab = model.vocab
        self.num_items = len(model.vocab)
        self.version = artifact_digest(model.manifest)[:16]
        categories = sorted({category for _, category in catalog.values()})
        self._category_code = {name: code for code, name in enumerate(categories)}
        codes = np.full(self.num_items, -1, dtype=np.int32)
        positions = self.vocab.positions(catalog)
        known = positions >= 0
        item_codes = [self._category_code[category] for _, category in catalog.values()]
        codes[positions[known]] = np.asarray(item_codes, dtype=np.int32)[known]
        self._item_category = codes
        self._renderer = Renderer(model.vocab, catalog, positions)
        sequential = getattr(model.scorer, "sequential", model.scorer)
        self._sequential = sequential if isinstance(sequential, SASRecScorer) else None
        # The encoder's plain view of the (memory-mapped) table (see SASRecEncoder.rows).
        self._table = (
            self._sequential.encoder.rows if self._sequential is not None else np.zeros((0, 0))
        )
        table = self._table
        self._compiled_rescore = (
            native is not None
            and table.dtype == np.float16
            and table.ndim == 2
            and table.flags.c_contiguous
        )

    @functools.cached_property
    def _norms(self) -> np.ndarray | None:
        """Item-embedding norms, computed on the first /similar request (not at every start-up).

        Norms only (one float per item): a normalised copy of the table would double the memory
        of every worker at 1M items.
        """
        return None if self._sequential is None else row_norms(self._table)

    def known_category(self, category: str) -> bool:
        return category in self._category_code

    @property
    def has_categories(self) -> bool:
        """Whether the shop's catalog (names and categories) was loaded at all."""
        return bool(self._category_code)

    def recommend(
        self,
        history: Sequence[str],
        k: int,
        exclude: Sequence[str] = (),
        category: str | None = None,
        candidates: Sequence[str] | None = None,
    ) -> Answer:
        """Top-``k`` items for one history; see `recommend_many`."""
        return self.recommend_many([Query(history, k, exclude, category, candidates)])[0]

    def recommend_many(self, queries: Sequence[Query]) -> list[Answer]:
        """Answers for several queries, their users encoded and scored in one matrix product.

        Seen and excluded items never come back. With ``candidates``, only those are ranked
        (re-ranking); candidates the model does not know keep their order after the known ones.
        Unknown or empty histories fall back to popularity (source "popular").
        """
        known = self._known(queries)
        banned = self.vocab.lookup_many([query.exclude for query in queries])
        answers: list[Answer | None] = [None] * len(queries)
        personal = [row for row, history in enumerate(known) if len(history)]
        if self.model.ann is not None and self._sequential is not None:
            direct = [row for row in personal if queries[row].candidates is None]
            if direct:
                vectors = self._sequential.encoder.encode([known[row] for row in direct])
                wanted = [self._wanted(queries[row].k, known[row], banned[row]) for row in direct]
                # One probe selection for the batch; each row keeps its own best `wanted`.
                found = self.model.ann.top(vectors, max(wanted))
                if self._compiled_rescore:
                    self._rescored(vectors, found, wanted, direct, queries, known, banned, answers)
                else:
                    for vector, row, candidates, count in zip(
                        vectors, direct, found, wanted, strict=True
                    ):
                        answers[row] = self._approximate(
                            vector, candidates[:count], known[row], banned[row], queries[row]
                        )
        exact = [row for row in personal if answers[row] is None]
        if exact:
            scorer = self.model.scorer
            hybrid = scorer if isinstance(scorer, HybridScorer) else None
            # A hybrid's sequential model scores: the hybrid's are made as each row is selected.
            scoring = scorer if hybrid is None else hybrid.sequential
            matrix = np.asarray(scoring.score([known[row] for row in exact]), dtype=np.float32)
            self._finish_many(matrix, exact, queries, known, banned, MODEL, answers, hybrid)
        for row, answer in enumerate(answers):
            if answer is None and queries[row].candidates is None:
                answers[row] = self._popular(queries[row], banned[row])
        fallback = [row for row, answer in enumerate(answers) if answer is None]
        if fallback:
            counts = np.asarray(self.model.popularity.counts, dtype=np.float32)
            step = max(1, _FALLBACK_CELLS // max(len(counts), 1))
            for start in range(0, len(fallback), step):
                rows = fallback[start : start + step]
                matrix = np.broadcast_to(counts, (len(rows), len(counts))).copy()
                self._finish_many(matrix, rows, queries, known, banned, POPULAR, answers)
        return [self._renderer.of([]) if answer is None else answer for answer in answers]

    def _known(self, queries: Sequence[Query]) -> list[np.ndarray]:
        """Each query's history as dense indices (its known items, in order): a shopper's kept
        ones while their newest event is the same, the others looked up in one call.

        Kept, because a lookup reads the vocabulary at random: a dict of every id, or at 1M
        items a binary search through ~20 MB of sorted ids (~14 us of a 1M request's ~230 in
        perf, as memcmp, with the ids out of cache)."""
        known: list[np.ndarray] = []
        missing: list[int] = []
        for row, query in enumerate(queries):
            kept = self._kept(query.shopper)
            if kept is None:
                missing.append(row)
            known.append(_NOTHING if kept is None else kept)
        if missing:
            found = self.vocab.lookup_many([queries[row].history for row in missing])
            for row, indices in zip(missing, found, strict=True):
                known[row] = indices
                shopper = queries[row].shopper
                if shopper is not None and self._remembered:
                    self._keep(shopper, indices)
        return known

    def forget_shoppers(self) -> None:
        """Drop every kept history (events deleted by hand may leave a newest event id as it
        was with other items before it)."""
        self._shoppers.clear()

    def _kept(self, shopper: tuple[str, int] | None) -> np.ndarray | None:
        """The shopper's kept history, if kept for the same newest event."""
        if shopper is None:
            return None
        entry = self._shoppers.get(shopper[0])
        if entry is None or entry[0] != shopper[1]:
            return None
        return entry[1]

    def _keep(self, shopper: tuple[str, int], indices: np.ndarray) -> None:
        """Remember a shopper's resolved history; the oldest kept shopper leaves when full."""
        shoppers = self._shoppers
        if shopper[0] not in shoppers and len(shoppers) >= self._remembered:
            del shoppers[next(iter(shoppers))]
        # A copy: the lookup's result is a slice of the whole batch's array.
        kept = indices.copy()
        kept.setflags(write=False)
        shoppers[shopper[0]] = (shopper[1], kept)

    def _finish_many(
        self,
        matrix: np.ndarray,
        rows: list[int],
        queries: Sequence[Query],
        known: list[np.ndarray],
        banned: list[np.ndarray],
        source: str,
        answers: list[Answer | None],
        hybrid: HybridScorer | None = None,
    ) -> None:
        """Filters (seen, excluded, category, candidates) and top-k over one score row per
        query (``matrix[i]`` answers ``queries[rows[i]]``); the rows without candidates in one
        `top_k_filtered` call. With ``hybrid``, the rows are its sequential model's scores."""
        plain: list[int] = []
        for position, row in enumerate(rows):
            query = queries[row]
            if query.candidates is None:
                plain.append(position)
                continue
            scores = matrix[position]
            if hybrid is not None:
                hybrid.finish(matrix[position : position + 1], [known[row]])
            code = self._code(query.category)
            filter_row(scores, self._dropped(known[row], banned[row]), self._item_category, code)
            dropped = set(query.history) | set(query.exclude)
            answers[row] = self._rerank(scores, query.candidates, query.k, source, dropped)
        if not plain:
            return
        chosen = matrix if len(plain) == len(rows) else matrix[plain]
        owners = [rows[position] for position in plain]
        ks = [queries[row].k for row in owners]
        seen = [known[row] for row in owners]
        columns, best, kept = top_k_filtered(
            chosen,
            max(ks),
            seen,
            self._item_category,
            self._codes(queries, owners),
            None if hybrid is None else (hybrid, seen),
            [banned[row] for row in owners],
        )
        for row, answer in zip(
            owners, self._ranked_rows(columns, best, kept, ks, source), strict=True
        ):
            answers[row] = answer

    @staticmethod
    def _dropped(known: np.ndarray, banned: np.ndarray) -> np.ndarray:
        """The items a user's answer must not hold: the seen ones and the excluded ones."""
        return np.concatenate((known, banned)) if len(banned) else known

    def _code(self, category: str | None) -> int:
        """A query's category as `top_k_filtered` takes it: an unknown one matches no item."""
        if category is None:
            return ANY_CATEGORY
        return self._category_code.get(category, _UNKNOWN_CATEGORY)

    def _codes(self, queries: Sequence[Query], rows: Sequence[int]) -> list[int] | None:
        """The rows' category codes as the compiled selections take them: None when no row
        asks for a category (the common case: no per-row list to build)."""
        if all(queries[row].category is None for row in rows):
            return None
        return [self._code(queries[row].category) for row in rows]

    def _ranked_rows(
        self,
        columns: np.ndarray,
        best: np.ndarray,
        kept: Sequence[int],
        ks: Sequence[int],
        source: str,
    ) -> list[Answer]:
        """Answers from top-k rows (`top_k_filtered` output), the i-th cut to ``ks[i]`` items
        and to its ``kept[i]`` unfiltered ones, which sort first: one rendering for all rows."""
        counts = [min(count, k) for count, k in zip(kept, ks, strict=True)]
        return self._renderer.answers(columns, best, counts, source)

    @functools.cached_property
    def _popular_head(self) -> tuple[np.ndarray, np.ndarray]:
        """The `_POPULAR_HEAD` most popular items and their counts, in the order a full pass
        ranks them (ties to the lower index)."""
        counts = np.asarray(self.model.popularity.counts, dtype=np.float32)
        columns, best = top_k_rows(counts[None], _POPULAR_HEAD)
        return columns[0], best[0]

    def _popular(self, query: Query, banned: np.ndarray) -> Answer | None:
        """A new shopper's answer from the popular head, or None when the filters leave fewer
        than k there (a full pass then ranks the whole catalog)."""
        items, counts = self._popular_head
        keep = self._allowed(items, banned, query.category)
        if int(keep.sum()) < query.k:
            return None
        return self._ranked(items[keep][: query.k], counts[keep][: query.k], POPULAR)

    def _allowed(self, items: np.ndarray, dropped: np.ndarray, category: str | None) -> np.ndarray:
        """Mask of ``items`` that are not in ``dropped`` and are in ``category`` (if given)."""
        if len(dropped) <= _SMALL_SET:
            # A history is tens of items: one broadcast comparison beats isin's sort.
            keep: np.ndarray = ~(items[:, None] == dropped[None, :]).any(axis=1)
        else:
            keep = ~np.isin(items, dropped)
        if category is not None:
            keep &= self._item_category[items] == self._code(category)
        return keep

    def _wanted(self, k: int, known: np.ndarray, banned: np.ndarray) -> int:
        """ANN candidates to fetch: enough that filtering seen and excluded items leaves k."""
        return min(max(ANN_CANDIDATES, 4 * k) + len(known) + len(banned), self.num_items)

    def _rescored(
        self,
        vectors: np.ndarray,
        found: np.ndarray,
        wanted: Sequence[int],
        rows: list[int],
        queries: Sequence[Query],
        known: list[np.ndarray],
        banned: list[np.ndarray],
        answers: list[Answer | None],
    ) -> None:
        """Each row's top-k of its first ``wanted`` ANN candidates (``found``), rescored exactly
        in one compiled pass for the batch: rows converted in registers, filters and top-k in
        one loop. A row whose filters leave fewer than k stays None (exact scoring then).

        Hybrid models: the transition term needs every item's score, so ANN answers use the
        sequential model alone (documented trade-off for catalogs past HYBRID_ANN_MIN_ITEMS).
        """
        ks = [queries[row].k for row in rows]
        ids, scores, kept = top_k_candidates(
            self._table,
            vectors,
            found,
            wanted,
            [known[row] for row in rows],
            self._item_category,
            self._codes(queries, rows),
            max(ks),
            [banned[row] for row in rows],
        )
        enough = [i for i, (count, k) in enumerate(zip(kept, ks, strict=True)) if count >= k]
        if not enough:
            return
        if len(enough) < len(rows):
            ids, scores = ids[enough], scores[enough]
        ranked = self._ranked_rows(
            ids, scores, [kept[i] for i in enough], [ks[i] for i in enough], MODEL
        )
        for i, answer in zip(enough, ranked, strict=True):
            answers[rows[i]] = answer

    def _approximate(
        self,
        vector: np.ndarray,
        found: np.ndarray,
        known: np.ndarray,
        banned: np.ndarray,
        query: Query,
    ) -> Answer | None:
        """`_rescored` for one row in numpy (without the compiled kernels)."""
        dropped = self._dropped(known, banned)
        found = found[(found >= 0) & (found < self.num_items)]
        scores = gather_float32(self._table, found) @ vector
        keep = self._allowed(found, dropped, query.category)
        if int(keep.sum()) < query.k:
            return None  # exact scoring covers heavy filtering
        found, scores = found[keep], scores[keep]
        best = np.argsort(-scores, kind="stable")[: query.k]
        return self._ranked(found[best], scores[best], MODEL)

    def similar(self, item_id: str, k: int) -> Answer | None:
        """Nearest items by embedding cosine (over ANN candidates when the artifact has an
        index), or by transition weight without embeddings."""
        index = self.vocab.get(item_id)
        if index is None:
            return None
        if self.model.ann is not None and self._sequential is not None:
            answer = self._similar_approximate(index, k)
            if answer is not None:
                return answer
        norms = self._norms
        if self._sequential is not None and norms is not None:
            item = to_float32(self._table[index])
            scores = np.empty(len(norms), dtype=np.float32)
            for start, block in row_blocks(self._table):
                scores[start : start + len(block)] = block @ item
            scores /= norms * norms[index]
        else:
            scores = self.model.scorer.score([np.array([index])])[0].astype(np.float32)
        scores[index] = -np.inf
        return self._top(np.asarray(scores, dtype=np.float32), k, MODEL)

    def _similar_approximate(self, index: int, k: int) -> Answer | None:
        """`similar` through the ANN index: cosine over the candidates of the item's own
        vector, norms computed from the gathered rows (a full pass at 1M items costs ~100 ms of
        blocked event loop, and the norms of every item ~0.4 s on first use). None when the
        probed lists hold fewer than k other items: the exact pass answers then."""
        item = to_float32(self._table[index])
        ann = self.model.ann
        assert ann is not None
        count = max(SIMILAR_CANDIDATES, 4 * k + 1)
        probes = SIMILAR_PROBES_FACTOR * ann.probes
        found = ann.top(item[None], count, cosine=True, probes=probes)[0]
        found = found[(found >= 0) & (found < self.num_items) & (found != index)]
        if len(found) < min(k, self.num_items - 1):
            return None
        rows = gather_float32(self._table, found)
        norms = np.maximum(np.linalg.norm(rows, axis=1), np.float32(1e-12))
        scores = (rows @ item) / (norms * max(float(np.linalg.norm(item)), 1e-12))
        best = np.argsort(-scores, kind="stable")[:k]
        return self._ranked(found[best], scores[best], MODEL)

    def _top(self, scores: np.ndarray, k: int, source: str) -> Answer:
        nothing = np.zeros(0, dtype=np.int64)
        columns, best, kept = top_k_filtered(
            scores[None], k, [nothing], self._item_category, [ANY_CATEGORY]
        )
        return self._ranked_rows(columns, best, kept, [k], source)[0]

    def _ranked(self, indices: np.ndarray, scores: np.ndarray, source: str) -> Answer:
        """Dense indices and their scores (best first) as an answer."""
        return self._renderer.answers(indices[None], scores[None], [len(indices)], source)[0]

    def _rerank(
        self, scores: np.ndarray, candidates: Sequence[str], k: int, source: str, dropped: set[str]
    ) -> Answer:
        ranked: list[tuple[float, int, str]] = []
        unknown: list[str] = []
        distinct = [item for item in dict.fromkeys(candidates) if item not in dropped]
        for position, (item, index) in enumerate(
            zip(distinct, self.vocab.positions(distinct).tolist(), strict=True)
        ):
            if index < 0:
                unknown.append(item)
            elif np.isfinite(scores[index]):
                ranked.append((-float(scores[index]), position, item))
        ranked.sort()
        out = [Ranked(item, -negative, source) for negative, _, item in ranked]
        out += [Ranked(item, None, "unscored") for item in unknown]
        return self._renderer.of(out[:k], source)
