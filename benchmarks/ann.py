"""ANN at catalog scale: recall@100 of the exported IVF index against exact search, and speed.

    python benchmarks/ann.py --items 1000000

Embeddings are generated (clustered, like trained item tables; sizes scale, quality doesn't
transfer). Queries are mixes of item vectors, like an encoded shopper. Each query does what the
engine does: fetch candidates from the index, rescore them exactly, keep the best 100, and
compare with exact search over every item. Prints one table.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as a serving worker gets

import edgerec  # noqa: E402, F401  (before numpy: it picks the server's OpenBLAS kernels)

# isort: split
import time  # noqa: E402

import numpy as np  # noqa: E402

from edgerec.infer._ann import ItemIndex, build_item_index  # noqa: E402


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
    parser.add_argument("--probes", type=int, nargs="+", default=[8, 10, 12, 16, 32])
    parser.add_argument(
        "--candidates",
        type=int,
        default=200,
        help="candidates fetched and rescored exactly (the engine fetches max(200, 4k))",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = clustered_table(args.items, args.dim, rng)
    picks = rng.integers(0, args.items, (args.queries, 5))
    queries = table[picks].mean(axis=1) + 0.1 * rng.normal(size=(args.queries, args.dim))
    queries = queries.astype(np.float32)
    exact = np.stack([np.argpartition(-(table @ q), 100)[:100] for q in queries])
    started = time.perf_counter()
    arrays = build_item_index(table)
    build_s = time.perf_counter() - started
    size_mb = sum(array.nbytes for array in arrays.values()) / 1e6
    print(
        f"{args.items} items x {args.dim}: IVF build {build_s:.0f} s on one core, "
        f"{len(arrays['ann_centroids'])} lists, {size_mb:.0f} MB of index arrays; "
        f"{args.candidates} candidates per query rescored exactly, top-100 compared with exact "
        "search"
    )
    print(f"{'probes':>7} {'recall@100':>11} {'P50 ms':>8} {'P99 ms':>8} {'exact P50 ms':>13}")
    engine = ItemIndex(arrays).probes  # what serving scans at this size
    for probes in sorted({*args.probes, engine}):
        index = ItemIndex(arrays, probes=probes)
        times, recalls = [], []
        for row, query in enumerate(queries):
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
            np.argpartition(scores, len(scores) - 100)[len(scores) - 100 :]
            exact_times.append(time.perf_counter() - began)
        ms = np.array(times) * 1e3
        print(
            f"{probes:>7} {np.mean(recalls):>11.3f} {np.percentile(ms, 50):>8.3f} "
            f"{np.percentile(ms, 99):>8.3f} {np.median(exact_times) * 1e3:>13.2f}"
            + ("  (the engine's)" if probes == engine else "")
        )


if __name__ == "__main__":
    main()
