"""Where a batch's time goes in the engine: each stage of a recommendation, per user.

    python benchmarks/stages.py --artifact artifacts/beauty-speed

One core, in-process, ten-item histories of random catalog items (and, for "encoder, 1-50",
histories of 1 to 50 items, uniformly). Each stage runs alone in a
loop of its own (warm caches), so the stages do not sum to `recommend_many`, which reads them
all in turn. "softmax" is the hybrid's softmax alone; "hybrid top-k" is what serving runs after
the product (each row's softmax, transitions and top-10 in one pass), less the copy of the raw
scores it overwrites. Prints one table of microseconds per user by batch size; asserts nothing.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as a serving worker gets

import edgerec  # noqa: E402, F401  (before numpy: it picks the server's OpenBLAS kernels)

# isort: split
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from edgerec.artifact import load_artifact  # noqa: E402
from edgerec.infer import HybridScorer, SASRecScorer, softmax_rows  # noqa: E402
from edgerec.serve._engine import Engine, Query  # noqa: E402
from edgerec.serve._heap import keep_freed_memory  # noqa: E402
from edgerec.serve._topk import ANY_CATEGORY, top_k_filtered  # noqa: E402

BATCHES = (1, 16, 64)


def per_user_us(run: Callable[[int], object], batch: int, rounds: int) -> float:
    """Median of three timed loops of ``rounds`` calls (call i gets i), per user."""
    for i in range(5):
        run(i)
    times = []
    for _ in range(3):
        began = time.perf_counter()
        for i in range(rounds):
            run(i)
        times.append((time.perf_counter() - began) / (rounds * batch))
    return sorted(times)[1] * 1e6


def stages(engine: Engine, batch: int, rounds: int) -> dict[str, float]:
    model = engine.model
    ids = model.vocab.external(np.random.default_rng(batch).integers(0, len(model.vocab), 6400))
    queries = [
        [Query(ids[(b * batch + u) * 10 % 6400 :][:10], 10) for u in range(batch)]
        for b in range(16)
    ]
    known = [model.vocab.lookup_many([q.history for q in group]) for group in queries]
    out = {
        "recommend_many": per_user_us(
            lambda i: engine.recommend_many(queries[i % 16]), batch, rounds
        )
    }
    out["id lookups"] = per_user_us(
        lambda i: model.vocab.lookup_many([q.history for q in queries[i % 16]]), batch, rounds
    )
    scorer = model.scorer
    sequential = scorer.sequential if isinstance(scorer, HybridScorer) else scorer
    if isinstance(sequential, SASRecScorer) and model.ann is None:
        encoder = sequential.encoder
        out["encoder"] = per_user_us(lambda i: encoder.encode(known[i % 16]), batch, rounds)
        # Histories of 1 to 50 items (the serving cap) in one batch, as real shoppers have.
        rng = np.random.default_rng(batch + 1)
        mixed = [
            [rng.integers(0, len(model.vocab), rng.integers(1, 51)) for _ in range(batch)]
            for _ in range(16)
        ]
        out["encoder, 1-50"] = per_user_us(lambda i: encoder.encode(mixed[i % 16]), batch, rounds)
        out["product"] = per_user_us(lambda i: sequential.score(known[i % 16]), batch, rounds)
        out["product"] -= out["encoder"]  # score() encodes, then multiplies
        scores = sequential.score(known[0])
        out["softmax"] = per_user_us(lambda i: softmax_rows(scores, inplace=True), batch, rounds)
        if isinstance(scorer, HybridScorer):
            # What serving runs after the product: each row's softmax, transitions and top-10
            # in one pass over the batch (top_k_filtered with the hybrid), on fresh raw scores.
            raw = [sequential.score(group) for group in known]
            categories = np.full(len(model.vocab), -1, dtype=np.int32)  # no category asked
            out["hybrid top-k"] = per_user_us(
                lambda i: top_k_filtered(
                    raw[i % 16].copy(), 10, known[i % 16], categories, [ANY_CATEGORY] * batch,
                    (scorer, known[i % 16]),
                ),
                batch,
                rounds,
            )  # fmt: skip
            out["hybrid top-k"] -= per_user_us(lambda i: raw[i % 16].copy(), batch, rounds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--users", type=int, default=2000, help="users per timed loop")
    args = parser.parse_args()
    # As a serving worker does: without it, glibc handed each batch's score matrix (3 MB at
    # batch 64, Beauty) back to the kernel, and the next one paid page faults for it
    # (recommend_many at batch 64: 32-34 us per user in most runs without it, 24-27 with it).
    keep_freed_memory()
    engine = Engine(load_artifact(args.artifact), {})
    table = {batch: stages(engine, batch, max(args.users // batch, 20)) for batch in BATCHES}
    names = list(table[BATCHES[0]])
    print(f"{len(engine.vocab)} items; µs per user (median of 3 loops)")
    print(f"{'stage':<16}" + "".join(f"{'batch ' + str(b):>11}" for b in BATCHES))
    for name in names:
        print(f"{name:<16}" + "".join(f"{table[b][name]:>11.1f}" for b in BATCHES))


if __name__ == "__main__":
    main()
