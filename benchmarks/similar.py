"""`/similar` on an artifact with an ANN index: the index path against the exact cosine pass.

    python benchmarks/similar.py --artifact artifacts/generated-1m

Both paths go through `Engine.similar`, on one core. Prints recall@k of the index path against
the exact pass, and the time per call of each; each path's first call, which computes the norms
it divides by (every item's for the exact pass; the centroids' and int8 rows' for the index's
cosine search), is reported apart. Run it on a trained artifact too: generated embeddings have
near-equal norms, trained ones do not.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as a serving worker gets

import edgerec  # noqa: E402, F401  (before numpy: it picks the server's OpenBLAS kernels)

# isort: split
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from edgerec.artifact import load_artifact  # noqa: E402
from edgerec.serve._engine import (  # noqa: E402
    SIMILAR_CANDIDATES,
    SIMILAR_PROBES_FACTOR,
    Engine,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--items", type=int, default=100, help="query items, drawn at random")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    model = load_artifact(args.artifact)
    if model.ann is None:
        raise SystemExit(f"{args.artifact} has no ANN index: /similar is always exact there")
    indexed, exact = Engine(model, {}), Engine(dataclasses.replace(model, ann=None), {})
    rng = np.random.default_rng(0)
    queries = model.vocab.external(rng.integers(0, len(model.vocab), args.items))
    first_ms = {}
    for name, engine in (("exact", exact), ("index", indexed)):
        began = time.perf_counter()
        engine.similar(queries[0], args.k)
        first_ms[name] = (time.perf_counter() - began) * 1e3
    truth, exact_ms, fast_ms, hits = {}, [], [], 0
    for item in queries:
        began = time.perf_counter()
        truth[item] = {r.item_id for r in exact.similar(item, args.k) or []}
        exact_ms.append((time.perf_counter() - began) * 1e3)
    for item in queries:
        began = time.perf_counter()
        found = indexed.similar(item, args.k) or []
        fast_ms.append((time.perf_counter() - began) * 1e3)
        hits += len({r.item_id for r in found} & truth[item])
    print(
        f"{len(model.vocab)} items, {args.items} query items, k={args.k}, "
        f"{SIMILAR_CANDIDATES} candidates from {SIMILAR_PROBES_FACTOR * model.ann.probes} "
        "probed lists rescored by cosine"
    )
    print(f"{'path':<10} {f'recall@{args.k}':>10} {'P50 ms':>8} {'P99 ms':>8}")
    for name, times, recall in (
        ("exact", exact_ms, 1.0),
        ("index", fast_ms, hits / (args.k * args.items)),
    ):
        print(
            f"{name:<10} {recall:>10.3f} {np.percentile(times, 50):>8.3f} "
            f"{np.percentile(times, 99):>8.3f}"
        )
    print(
        f"first calls: the exact path's {first_ms['exact']:.0f} ms (norms of every item), the "
        f"index's {first_ms['index']:.0f} ms (norms of its centroids and int8 rows)"
    )


if __name__ == "__main__":
    main()
