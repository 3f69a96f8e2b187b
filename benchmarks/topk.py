"""Top-k of score rows: the grouped threshold (serving) against argpartition + sort per row.

    python benchmarks/topk.py

Scores are random float32 rows of catalog width, a tenth of them filtered (-inf) as seen
items would be. Both methods are timed alternately in one run; prints microseconds per row and
their ratio.
"""

from __future__ import annotations

import argparse
import time

import edgerec  # noqa: F401  (before numpy: it picks the server's OpenBLAS kernels)

# isort: split
import numpy as np

from edgerec.serve._topk import top_k_rows


def per_row_partition(scores: np.ndarray, k: int) -> list[np.ndarray]:
    width = scores.shape[1]
    out = []
    for row in scores:
        part = np.argpartition(row, width - k)[width - k :]
        out.append(part[np.argsort(-row[part], kind="stable")])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[12_101, 100_000])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'items':>8} {'batch':>6} {'partition us/row':>17} {'grouped us/row':>15} {'ratio':>6}")
    for width in args.widths:
        for batch in args.batches:
            scores = rng.standard_normal((batch, width)).astype(np.float32)
            scores[rng.random(scores.shape) < 0.1] = -np.inf
            timings: dict[str, list[float]] = {"partition": [], "grouped": []}
            for _ in range(args.repeats):
                for name, method in (("partition", per_row_partition), ("grouped", top_k_rows)):
                    started = time.perf_counter()
                    method(scores, args.k)
                    timings[name].append(time.perf_counter() - started)
            plain, grouped = (float(np.median(timings[name])) * 1e6 / batch for name in timings)
            print(f"{width:>8} {batch:>6} {plain:>17.1f} {grouped:>15.1f} {plain / grouped:>6.2f}")


if __name__ == "__main__":
    main()
