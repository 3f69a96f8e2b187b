"""Artifact size and load time at catalog scale, with generated embeddings (size scaling only).

    python benchmarks/size.py --items 1000000 --dim 64
    python benchmarks/size.py --items 1000000 --keep artifacts/generated-1m   # servable copy
    python benchmarks/size.py --items 100000 --ann-min-items 200000 --keep DIR  # no index

Writes a sasrec-type artifact with (a) float16 + int8 embeddings and (b) int8 only, and prints
each file's size, the total, and the verified load time. ``--keep DIR`` also writes a servable
artifact as export does at this size (float16 + int8 + the IVF index) to DIR, for
benchmarks/serving.py at catalog scale.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgerec.artifact import load_artifact, quantize_int8, write_artifact
from edgerec.infer._ann import SASREC_ANN_MIN_ITEMS, build_item_index

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ann import clustered_table


def encoder_weights(
    dim: int, max_len: int, layers: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    def mat(rows: int, cols: int) -> np.ndarray:
        return rng.normal(scale=0.05, size=(rows, cols)).astype(np.float32)

    weights = {
        "pos_emb": mat(max_len, dim),
        "emb_ln.g": np.ones(dim, np.float32),
        "emb_ln.b": np.zeros(dim, np.float32),
    }
    for layer in range(layers):
        p = f"l{layer}."
        for name, shape in (
            ("q", (dim, dim)),
            ("k", (dim, dim)),
            ("v", (dim, dim)),
            ("o", (dim, dim)),
            ("ff1", (dim, 4 * dim)),
            ("ff2", (4 * dim, dim)),
        ):
            weights[p + name + ".w"] = mat(*shape)
            weights[p + name + ".b"] = np.zeros(shape[1], np.float32)
        for name in ("ln1", "ln2"):
            weights[p + name + ".g"] = np.ones(dim, np.float32)
            weights[p + name + ".b"] = np.zeros(dim, np.float32)
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument(
        "--ann-min-items",
        type=int,
        default=SASREC_ANN_MIN_ITEMS,
        help="the kept artifact gets an IVF index from this many items on, as edgerec train "
        "gives a sasrec model",
    )
    parser.add_argument("--keep", type=Path, default=None, help="also write a servable artifact")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = rng.normal(scale=0.1, size=(args.items, args.dim)).astype(np.float32)
    quantized, scales = quantize_int8(table)
    ids = [f"sku-{index:08d}" for index in range(args.items)]
    config = {"sasrec": {"num_layers": 2, "num_heads": 2}, "popularity": {}}
    base = {
        "popularity": rng.random(args.items).astype(np.float32),
        "item_emb_i8": quantized,
        "item_emb_scales": scales,
    }
    variants = {
        "float16 + int8": {**base, "item_emb_f16": table.astype(np.float16)},
        "int8 only": base,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, arrays in variants.items():
            out = Path(tmp) / label.replace(" ", "")
            write_artifact(
                out,
                model_type="sasrec",
                config=config,
                item_ids=ids,
                arrays=arrays,
                archives={"encoder": encoder_weights(args.dim, 50, 2, rng)},
                info={"dimensions": {"embedding_size": args.dim}},
            )
            sizes = {path.name: path.stat().st_size for path in sorted(out.iterdir())}
            started = time.perf_counter()
            load_artifact(out, precision="int8")
            load_ms = (time.perf_counter() - started) * 1e3
            total = sum(sizes.values()) / 1e6
            print(
                f"{args.items} items x {args.dim} dims, {label}: {total:.1f} MB, "
                f"verified int8 load {load_ms:.0f} ms"
            )
            for name, size in sizes.items():
                print(f"    {name:<22} {size / 1e6:>9.2f} MB")
    if args.keep is not None:
        # Clustered rows, like a trained item table (ann.py's generator): an index over
        # unstructured noise says nothing about real catalogs.
        table = clustered_table(args.items, args.dim, rng)
        kept_i8, kept_scales = quantize_int8(table)
        ann = build_item_index(table) if args.items >= args.ann_min_items else {}
        write_artifact(
            args.keep,
            model_type="sasrec",
            config=config,
            item_ids=ids,
            arrays={
                "popularity": base["popularity"],
                "item_emb_i8": kept_i8,
                "item_emb_scales": kept_scales,
                "item_emb_f16": table.astype(np.float16),
                **ann,
            },
            archives={"encoder": encoder_weights(args.dim, 50, 2, rng)},
            info={"dimensions": {"embedding_size": args.dim}},
        )
        started = time.perf_counter()
        load_artifact(args.keep)
        load_ms = (time.perf_counter() - started) * 1e3
        total = sum(path.stat().st_size for path in args.keep.iterdir()) / 1e6
        print(
            f"servable artifact written to {args.keep} ({'with' if ann else 'no'} ANN index): "
            f"{total:.1f} MB, verified float16 load (what serving does) {load_ms:.0f} ms"
        )


if __name__ == "__main__":
    main()
