"""Micro-batching: a batch answers exactly what each query alone would, and only batches
requests that really were concurrent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest

from edgerec.artifact import load_artifact
from edgerec.infer import _half
from edgerec.serve import App, _engine
from edgerec.serve._batch import Coalescer
from edgerec.serve._engine import Engine, Query

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("fallback_cells", [1 << 22, 1])  # 1: one popularity row at a time
def test_a_batch_answers_exactly_like_single_queries(
    artifact: Path, fallback_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "_FALLBACK_CELLS", fallback_cells)
    catalog = {f"sku-{i}": (f"Item {i}", "even" if i % 2 == 0 else "odd") for i in range(60)}
    engine = Engine(load_artifact(artifact), catalog)
    queries = [
        Query(["sku-1", "sku-2"], 5),
        Query(["nobody-knows-this"], 4),  # popularity fallback
        Query([], 3),
        Query(["also-unknown"], 2, exclude=["sku-0"]),
        Query(["sku-7"], 6, exclude=["sku-8", "sku-9"]),
        Query(["sku-3", "sku-4", "sku-5"], 5, category="even"),
        Query(["sku-3"], 5, candidates=["sku-10", "sku-3", "new-sku", "sku-11"]),
        Query(["sku-1", "sku-2"], 5),  # a duplicate in the same batch
    ]
    together = engine.recommend_many(queries)
    alone = [engine.recommend_many([query])[0] for query in queries]
    assert len(together) == len(queries)
    for batched, single in zip(together, alone, strict=True):
        assert [r.item_id for r in batched] == [r.item_id for r in single]
        assert [r.source for r in batched] == [r.source for r in single]
        for a, b in zip(batched, single, strict=True):
            assert (a.score is None and b.score is None) or a.score == pytest.approx(
                b.score, rel=1e-5
            )
    assert together[1][0].source == "popular" and together[0][0].source == "model"
    assert {r.item_id for r in together[3]}.isdisjoint({"sku-7", "sku-8", "sku-9"})


def test_kept_shopper_histories_answer_like_looked_up_ones(
    artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(load_artifact(artifact), {}, shoppers=2)
    queries = [
        Query(["sku-1", "not-in-the-model", "sku-2"], 5),
        Query(["sku-3"], 4, exclude=["sku-4"]),
        Query(["sku-5", "sku-6"], 3, candidates=["sku-9", "sku-5", "sku-8"]),
    ]
    looked_up = engine.recommend_many(queries)
    named = [query._replace(shopper=(f"s{row}", 7)) for row, query in enumerate(queries)]
    assert engine.recommend_many(named) == looked_up
    # At most two kept (the oldest left), each the indices of the known items.
    assert set(engine._shoppers) == {"s1", "s2"}
    assert list(engine._shoppers["s2"][1]) == [engine.vocab.index(i) for i in ("sku-5", "sku-6")]
    asked: list[list[str]] = []
    lookup_many = engine.vocab.lookup_many

    def spy(groups: Sequence[Sequence[str]]) -> list[np.ndarray]:
        asked.extend(list(group) for group in groups)
        return lookup_many(groups)

    monkeypatch.setattr(engine.vocab, "lookup_many", spy)
    assert engine.recommend_many(named[1:]) == looked_up[1:]
    assert asked == [["sku-4"], []]  # the exclusions only: both histories were kept
    # A newer event: the history is looked up again, not taken from what was kept.
    moved = named[1]._replace(history=["sku-3", "sku-7"], shopper=("s1", 8))
    assert engine.recommend_many([moved]) == engine.recommend_many([moved._replace(shopper=None)])
    assert engine._shoppers["s1"][0] == 8 and len(engine._shoppers["s1"][1]) == 2


@pytest.mark.parametrize("head", [0, 3, 1024])  # 0: every new shopper takes the full pass
def test_new_shoppers_get_the_full_pass_answer_from_the_popular_head(
    artifact: Path, head: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = {f"sku-{i}": (f"Item {i}", "even" if i % 2 == 0 else "odd") for i in range(60)}
    queries = [
        Query([], 5),
        Query(["unknown"], 3, exclude=["sku-0", "sku-1", "sku-2"]),
        Query([], 4, category="odd"),
        Query([], 4, category="no-such-category"),
        Query([], 60),  # more than the head holds
        Query([], 2),
        Query([], 1, category="even"),
    ]
    monkeypatch.setattr(_engine, "_POPULAR_HEAD", 0)
    full = Engine(load_artifact(artifact), catalog).recommend_many(queries)
    monkeypatch.setattr(_engine, "_POPULAR_HEAD", head)
    fast = Engine(load_artifact(artifact), catalog).recommend_many(queries)
    assert fast == full
    assert all(r.source == "popular" for answer in full for r in answer)
    assert len(full[0]) == 5 and full[3] == []


def test_similar_items_scored_in_blocks_match_one_pass(
    artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = Engine(load_artifact(artifact), {}).similar("sku-1", 8)
    monkeypatch.setattr(_half, "_BLOCK_ROWS", 7)
    blocks = Engine(load_artifact(artifact), {}).similar("sku-1", 8)
    assert whole is not None and len(whole) == 8
    assert blocks is not None
    assert [r.item_id for r in blocks] == [r.item_id for r in whole]
    assert [r.score for r in blocks] == pytest.approx([r.score for r in whole], rel=1e-6)


async def test_concurrent_submissions_share_a_batch_and_failures_stay_alone() -> None:
    sizes: list[int] = []

    def run(queries: Sequence[int]) -> list[int]:
        sizes.append(len(queries))
        if 13 in queries:
            raise ValueError("unlucky")
        return [query * 2 for query in queries]

    coalescer: Coalescer[int, int] = Coalescer(run, max_batch=4)
    results = await asyncio.gather(
        *(coalescer.submit(n) for n in range(10)), return_exceptions=True
    )
    assert results == [n * 2 for n in range(10)]
    assert sizes == [4, 4, 2]  # capped at max_batch, nothing lost
    sizes.clear()
    results = await asyncio.gather(
        *(coalescer.submit(n) for n in (12, 13, 14)), return_exceptions=True
    )
    assert results[0] == 24 and results[2] == 28
    assert isinstance(results[1], ValueError)
    assert sizes == [3, 1, 1, 1]  # the batch failed, then each query alone
    sizes.clear()
    assert await coalescer.submit(5) == 10
    assert sizes == [1]  # a lone request is not held back waiting for company


async def test_concurrent_http_requests_are_batched_with_unchanged_answers(app: App) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        bodies = [{"items": [f"sku-{n}", f"sku-{n + 1}"], "k": 5} for n in range(8)]
        alone = [(await http.post("/v1/recommendations", json=b)).json() for b in bodies]
        assert app._batcher is not None
        _, batcher = app._batcher
        before = batcher.batches
        together = await asyncio.gather(*(http.post("/v1/recommendations", json=b) for b in bodies))
    # The same items in the same order; scores equal up to float rounding of a batched product.
    for response, single in zip(together, alone, strict=True):
        answer = response.json()
        assert [i["item_id"] for i in answer["items"]] == [i["item_id"] for i in single["items"]]
        assert [i["score"] for i in answer["items"]] == pytest.approx(
            [i["score"] for i in single["items"]], rel=1e-5
        )
    assert batcher.batches - before < len(bodies)
