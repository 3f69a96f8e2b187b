"""The ANN index of a trained artifact as served: its answers against exact scoring, and speed.

    python benchmarks/ann_served.py --artifact artifacts/bert-beauty-sasrec \
        --data ../shared/datasets/Beauty_BERT4Rec_variant/beauty.txt

The artifact must hold an index (`edgerec train --ann-min-items N`). It is served as it is and
as export writes it below the index's size: a copy (hard links) whose manifest lists no index,
so every item is scored exactly, through the same kernels as any small catalog. Both engines
answer the same shoppers, whose histories are their sequences in ``--data`` less the last two
items (what the validation split reads). Prints recall@10 and recall@100 of the served answers
against the exact ones, and each engine's µs per user at batches of 1, 16 and 64 (one core,
in process, warm). Trained embeddings, unlike `ann.py`'s generated ones, carry the real
data's clusters. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as a serving worker gets

import edgerec  # noqa: E402, F401  (before numpy: it picks the server's OpenBLAS kernels)

# isort: split
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from edgerec.artifact import load_artifact, read_manifest  # noqa: E402
from edgerec.artifact._manifest import MANIFEST  # noqa: E402
from edgerec.data import build_sequences, read_interactions  # noqa: E402
from edgerec.infer._ann import ANN_ARRAYS, list_count  # noqa: E402
from edgerec.serve._answer import Answer  # noqa: E402
from edgerec.serve._engine import Engine, Query  # noqa: E402
from edgerec.serve._heap import keep_freed_memory  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stages import BATCHES, per_user_us  # noqa: E402


def without_index(artifact: Path, into: Path) -> Path:
    """``artifact`` as export writes it without an index, in ``into``."""
    manifest = read_manifest(artifact)
    manifest["files"] = {
        name: entry
        for name, entry in manifest["files"].items()
        if name.removesuffix(".npy") not in ANN_ARRAYS
    }
    for name in manifest["files"]:
        os.link(artifact / name, into / name)
    (into / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return into


def answers(engine: Engine, queries: list[Query]) -> list[Answer]:
    """The engine's answers, 64 queries a batch (a worker's largest)."""
    return [
        answer
        for at in range(0, len(queries), 64)
        for answer in engine.recommend_many(queries[at : at + 64])
    ]


def mean_recall(served: Engine, exact: Engine, queries: list[Query]) -> float:
    """The mean share of each exact answer's items that the served answer holds too."""
    shares = []
    for got, wanted in zip(answers(served, queries), answers(exact, queries), strict=True):
        expected = {entry.item_id for entry in wanted}
        shares.append(len({entry.item_id for entry in got} & expected) / max(1, len(expected)))
    return float(np.mean(shares))


def batch_us(engine: Engine, queries: list[Query], batch: int) -> float:
    """µs per user over ``queries`` in batches of ``batch`` (`stages.per_user_us`)."""
    groups = [queries[at : at + batch] for at in range(0, len(queries) - batch + 1, batch)]
    return per_user_us(lambda i: engine.recommend_many(groups[i % len(groups)]), batch, len(groups))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args()
    if args.users < max(BATCHES):
        parser.error(f"--users must be at least {max(BATCHES)} (the largest batch timed)")
    keep_freed_memory()
    model = load_artifact(args.artifact)
    if model.ann is None:
        raise SystemExit(f"{args.artifact} has no ANN index (edgerec train --ann-min-items N)")
    data = build_sequences(read_interactions(args.data))
    rng = np.random.default_rng(0)
    longer = [row for row, items in enumerate(data.sequences) if len(items) > 2]
    rows = rng.choice(longer, size=min(args.users, len(longer)), replace=False)
    queries = {
        k: [Query(data.vocab.external(data.sequences[row][:-2]), k) for row in rows]
        for k in (10, 100)
    }
    served = Engine(model, {})
    with tempfile.TemporaryDirectory(prefix="edgerec-exact-", dir=args.artifact.parent) as copy:
        exact = Engine(load_artifact(without_index(args.artifact, Path(copy))), {})
        recalls = {k: mean_recall(served, exact, asked) for k, asked in queries.items()}
        print(
            f"{len(model.vocab)} items, {len(rows)} shoppers, "
            f"{model.ann.probes} probes of {list_count(len(model.vocab))} lists: "
            f"recall@10 {recalls[10]:.3f}, recall@100 {recalls[100]:.3f} against exact scoring"
        )
        print("µs per user (k=10)" + "".join(f"{'batch ' + str(b):>11}" for b in BATCHES))
        for name, engine in (("with the index", served), ("exact", exact)):
            times = [batch_us(engine, queries[10], batch) for batch in BATCHES]
            print(f"{name:<18}" + "".join(f"{value:>11.1f}" for value in times))


if __name__ == "__main__":
    main()
