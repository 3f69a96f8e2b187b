"""New shoppers (no known history): the popular-head answer against a full popularity pass.

    python benchmarks/coldstart.py --artifact artifacts/generated-1m

Both through `Engine.recommend_many` on one core; "full pass" is the same engine with the head
turned off (`_POPULAR_HEAD = 0`), which is what every new shopper cost before the head existed.
Each query excludes one item, as a page showing a product would. Prints one table.
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

from edgerec.artifact import load_artifact  # noqa: E402
from edgerec.serve import _engine  # noqa: E402
from edgerec.serve._engine import Engine, Query  # noqa: E402


def per_user_ms(engine: Engine, batch: int, rounds: int) -> float:
    queries = [Query([], 10, exclude=[engine.vocab.external([row])[0]]) for row in range(batch)]
    engine.recommend_many(queries)  # warm: the head is ranked on first use
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(rounds):
            engine.recommend_many(queries)
        best = min(best, (time.perf_counter() - began) / (rounds * batch))
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    model = load_artifact(args.artifact)
    head = _engine._POPULAR_HEAD
    print(f"{len(model.vocab)} items, k=10; ms per new shopper (best of 3)")
    print(f"{'batch':>6} {'full pass':>10} {'popular head':>13}")
    for batch in (1, 16):
        _engine._POPULAR_HEAD = 0
        full = per_user_ms(Engine(model, {}), batch, args.rounds)
        _engine._POPULAR_HEAD = head
        fast = per_user_ms(Engine(model, {}), batch, args.rounds)
        print(f"{batch:>6} {full:>10.3f} {fast:>13.4f}")


if __name__ == "__main__":
    main()
