"""Quality benchmark: train edgerec models on the shared Amazon files and print the papers' table.

    python benchmarks/quality.py                      # Beauty and Toys_and_Games, hybrid model
    python benchmarks/quality.py --datasets Beauty --max-minutes 5

Reads ../shared/datasets (or $EDGEREC_DATASETS); writes artifacts under artifacts/ (git-ignored).
Test metrics are computed once per artifact, after every choice was made on validation.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from edgerec.data import build_sequences, read_interactions
from edgerec.evaluate._benchmark import benchmark_table
from edgerec.train import SASRecConfig, train_model

REPO = Path(__file__).resolve().parents[1]
FILES = {"Beauty": "Beauty/Beauty.txt", "Toys_and_Games": "Toys_and_Games/Toys_and_Games.txt"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--model", default="hybrid")
    parser.add_argument("--max-minutes", type=float, default=13.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "artifacts")
    args = parser.parse_args()
    root = Path(os.environ.get("EDGEREC_DATASETS", REPO.parent / "shared" / "datasets"))
    for name in args.datasets:
        data = build_sequences(read_interactions(root / FILES[name]), seed=args.seed)
        out = args.out / f"{name}-{args.model}"
        started = time.monotonic()
        config = SASRecConfig(max_minutes=args.max_minutes, seed=args.seed)
        outcome = train_model(data, args.model, out, sasrec=config, progress=True)
        minutes = (time.monotonic() - started) / 60
        settings = outcome.manifest["config"]
        print(
            f"\n## {name}: {args.model} trained in {minutes:.1f} min "
            f"(best epoch {settings.get('best_epoch')}, fusion weight "
            f"{settings.get('hybrid_weight')}), artifact {out}"
        )
        print(benchmark_table(data, [out], name, "valid"))
        print()
        print(benchmark_table(data, [out], name, "test"))


if __name__ == "__main__":
    main()
