"""What a lone request costs after the worker has waited: one user's call, by idle gap.

    python benchmarks/idle.py --artifact artifacts/beauty-speed

Under light load a worker answers one request, then waits for the next. This times the same
batch-1 work back to back and after each gap (sleeping, as a worker waiting in epoll does, and
spinning, which keeps the core running), one process on one core, and prints the median
microseconds per call. Rows: the whole `recommend_many`; the encoder alone (the history's rows
gathered, then the compiled pass over ~0.4 MB of weights); a pure-Python loop that touches no
data (the control: if it slows down too, the core itself is slower after idling, not its
caches). Asserts nothing.
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
from edgerec.infer import HybridScorer, SASRecScorer  # noqa: E402
from edgerec.serve._engine import Engine, Query  # noqa: E402
from edgerec.serve._heap import keep_freed_memory  # noqa: E402

# (gap in seconds, spin instead of sleeping)
GAPS = ((0.0, False), (0.0005, False), (0.002, False), (0.005, False), (0.002, True))


def wait(gap: float, spin: bool) -> None:
    if spin:
        until = time.perf_counter() + gap
        while time.perf_counter() < until:
            pass
    elif gap:
        time.sleep(gap)


def median_us(call: Callable[[int], object], gap: float, spin: bool, calls: int) -> float:
    """Median of ``calls`` timed calls (call i gets i), each after waiting ``gap``."""
    for i in range(5):
        call(i)
    times = []
    for i in range(calls):
        wait(gap, spin)
        began = time.perf_counter_ns()
        call(i)
        times.append(time.perf_counter_ns() - began)
    return float(np.median(times)) / 1000


def interpreter_only(_: int) -> None:
    total = 0
    for step in range(2000):
        total += step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=300, help="timed calls per cell")
    parser.add_argument("--rounds", type=int, default=3, help="times the whole table is run")
    args = parser.parse_args()
    keep_freed_memory()  # as a serving worker does (see stages.py)
    model = load_artifact(args.artifact)
    engine = Engine(model, {})
    rng = np.random.default_rng(0)
    # Fresh ten-item histories of random catalog items, one per call.
    ids = model.vocab.external(rng.integers(0, len(model.vocab), (args.calls + 5) * 10))
    queries = [Query(ids[10 * i : 10 * i + 10], 10) for i in range(args.calls + 5)]
    rows: dict[str, Callable[[int], object]] = {
        "recommend_many": lambda i: engine.recommend_many([queries[i]]),
    }
    scorer = model.scorer
    sequential = scorer.sequential if isinstance(scorer, HybridScorer) else scorer
    if isinstance(sequential, SASRecScorer):
        encoder = sequential.encoder
        known = [model.vocab.lookup(list(query.history)) for query in queries]
        rows["encoder"] = lambda i: encoder.encode([known[i]])
    rows["Python loop"] = interpreter_only
    print(f"{len(model.vocab)} items; median µs per batch-1 call after each gap, one core")
    header = "".join(
        f"{('spin ' if spin else '') + f'{gap * 1000:g} ms':>11}" for gap, spin in GAPS
    )
    print(f"{'':<16}{header}")
    for round_ in range(args.rounds):
        for name, call in rows.items():
            cells = "".join(
                f"{median_us(call, gap, spin, args.calls):>11.1f}" for gap, spin in GAPS
            )
            print(f"{name + (f' ({round_ + 1})' if args.rounds > 1 else ''):<16}{cells}")


if __name__ == "__main__":
    main()
