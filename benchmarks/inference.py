"""Inference micro-benchmark: one user's encode + score-all-items, numpy only, on one thread.

    python benchmarks/inference.py artifacts/Beauty-hybrid

Prints per-call latency (P50/P99) for the sequential scorer and the full hybrid scorer, in
float16-stored and int8-stored embeddings, next to a bare dot-product floor measured in the same
run, and the artifact load time.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as a serving worker gets

import edgerec  # noqa: E402, F401  (before numpy: it picks the server's OpenBLAS kernels)

# isort: split
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from edgerec.artifact import load_artifact  # noqa: E402
from edgerec.data import build_sequences, leave_one_out, read_interactions  # noqa: E402
from edgerec.serve._engine import Engine, Query  # noqa: E402
from edgerec.serve._heap import keep_freed_memory  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    values = np.array(samples) * 1e3
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def timed(fn: object, histories: list[np.ndarray]) -> tuple[float, float]:
    samples = []
    for history in histories:
        started = time.perf_counter()
        fn([history])  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="Sequence file for real histories (default: random histories).",
    )
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args()
    # The allocator settings of a serving worker: without them every batch's score matrix is
    # mapped and unmapped again, and its page faults are counted as scoring time.
    keep_freed_memory()
    started = time.perf_counter()
    model = load_artifact(args.artifact)
    load_ms = (time.perf_counter() - started) * 1e3
    rng = np.random.default_rng(0)
    if args.data:
        data = build_sequences(read_interactions(args.data))
        histories, _ = leave_one_out(data).inputs(data.sequences, "test")
        histories = [histories[i] for i in rng.permutation(len(histories))[: args.users]]
    else:
        lengths = rng.integers(3, 30, args.users)
        histories = [rng.integers(0, len(model.vocab), n) for n in lengths]
    rows = []
    table = model.scorer.sequential.item_embeddings  # type: ignore[attr-defined]
    vector = rng.normal(size=table.shape[1]).astype(np.float32)
    rows.append(
        ("floor: one dot product with every item", timed(lambda h: table @ vector, histories))
    )
    for precision in ("float16", "int8"):
        loaded = load_artifact(args.artifact, precision=precision)
        scorer = loaded.scorer
        rows.append(
            (f"sasrec encode + score all ({precision})", timed(scorer.sequential.score, histories))
        )  # type: ignore[attr-defined]
        rows.append((f"full model score all ({precision})", timed(scorer.score, histories)))
    engine = Engine(model, {})
    external = [model.vocab.external(h) for h in histories]
    samples = []
    for history in external:
        started = time.perf_counter()
        engine.recommend(history, 10)
        samples.append(time.perf_counter() - started)
    rows.append(("engine.recommend top-10 (float16, + mask/top-k)", percentiles(samples)))
    print(
        f"artifact {args.artifact}: {model.manifest['num_items']} items, "
        f"type {model.manifest['model_type']}, verified load {load_ms:.0f} ms"
    )
    print(f"{'path (1 user, 1 thread)':<45} {'P50 ms':>8} {'P99 ms':>8} {'x floor':>8}")
    floor = rows[0][1][0]
    for name, (p50, p99) in rows:
        print(f"{name:<45} {p50:>8.3f} {p99:>8.3f} {p50 / floor:>8.1f}")
    # What micro-batching buys: concurrent requests scored as one batch.
    print(f"\n{'engine.recommend_many, batch of':<32} {'ms per user (median of batches)':>32}")
    for size in (1, 4, 8, 16, 32):
        per_user = []
        for start in range(0, min(len(external), 64 * size) - size + 1, size):
            queries = [Query(history, 10) for history in external[start : start + size]]
            began = time.perf_counter()
            engine.recommend_many(queries)
            per_user.append((time.perf_counter() - began) / size)
        print(f"{size:<32} {np.median(per_user) * 1e3:>32.3f}")


if __name__ == "__main__":
    main()
