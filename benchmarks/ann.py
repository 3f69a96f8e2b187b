"""ANN at catalog scale: recall@100 of the exported HNSW index against exact search, and speed.

    python benchmarks/ann.py --items 1000000

Embeddings are generated (clustered, like trained item tables; sizes scale, quality doesn't
transfer). Queries are mixes of item vectors, like an encoded shopper. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from edgerec.infer._ann import ItemIndex, build_item_index


def clustered_table(items: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.normal(size=(max(items // 1000, 1), dim)).astype(np.float32)
    assignment = rng.integers(0, len(centres), items)
    table = centres[assignment] + 0.5 * rng.normal(size=(items, dim)).astype(np.float32)
    return table * np.float32(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--expansion", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument(
        "--candidates",
        type=int,
        default=1000,
        help="candidates fetched and rescored exactly (the engine uses 1000, at 2048)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = clustered_table(args.items, args.dim, rng)
    picks = rng.integers(0, args.items, (args.queries, 5))
    queries = table[picks].mean(axis=1) + 0.1 * rng.normal(size=(args.queries, args.dim))
    queries = queries.astype(np.float32)
    exact = np.stack([np.argpartition(-(table @ q), 100)[:100] for q in queries])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.usearch"
        started = time.perf_counter()
        build_item_index(table, path)
        build_s = time.perf_counter() - started
        size_mb = os.path.getsize(path) / 1e6
        print(
            f"{args.items} items x {args.dim}: HNSW build {build_s:.0f} s on this machine, "
            f"index file {size_mb:.0f} MB; {args.candidates} candidates per query rescored "
            "exactly, top-100 compared with exact search"
        )
        print(
            f"{'expansion_search':>16} {'recall@100':>11} {'P50 ms':>8} {'P99 ms':>8} "
            f"{'exact P50 ms':>13} {'load ms':>8}"
        )
        for expansion in args.expansion:
            started = time.perf_counter()
            index = ItemIndex(path, expansion_search=expansion)
            load_ms = (time.perf_counter() - started) * 1e3
            times, recalls = [], []
            for row, query in enumerate(queries):
                # What the engine does: fetch candidates, rescore them exactly, keep the best.
                began = time.perf_counter()
                found = index.top(query[None], args.candidates)[0]
                found = found[found >= 0]
                found = found[np.argsort(-(table[found] @ query))[:100]]
                times.append(time.perf_counter() - began)
                recalls.append(len(set(found.tolist()) & set(exact[row].tolist())) / 100)
            exact_times = []
            for query in queries[:50]:
                began = time.perf_counter()
                scores = table @ query
                np.argpartition(-scores, 100)[:100]
                exact_times.append(time.perf_counter() - began)
            ms = np.array(times) * 1e3
            print(
                f"{expansion:>16} {np.mean(recalls):>11.3f} {np.percentile(ms, 50):>8.3f} "
                f"{np.percentile(ms, 99):>8.3f} {np.median(exact_times) * 1e3:>13.2f} "
                f"{load_ms:>8.1f}"
            )


if __name__ == "__main__":
    main()
