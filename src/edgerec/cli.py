"""The ``edgerec`` command line: train, evaluate, inspect.

Exit status: 0 success, 1 failure (bad data, bad artifact, failed fit), 2 usage error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from edgerec import __version__
from edgerec.errors import EdgerecError, MissingExtraError
from edgerec.logs import configure


class _Group(click.Group):
    """Turns every deliberate EdgerecError into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgerecError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="edgerec")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
def main(verbose: bool) -> None:
    """edgerec: turn interaction logs into a compact model and recommend from it."""
    configure(verbose)


_DATA = click.argument("data", type=click.Path(path_type=Path, dir_okay=False))
_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "tsv", "parquet", "jsonl", "sequences", "sqlite"]),
    default=None,
    help=(
        "Input format (default: from the file extension; .txt = sequences; .sqlite3, .db ="
        " the event store `edgerec serve` writes)."
    ),
)
_SEED = click.option(
    "--seed", default=0, show_default=True, help="Seeds the id shuffle and the model."
)


@main.command()
@_DATA
@_FORMAT
@_SEED
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Artifact directory to write (replaced atomically).",
)
@click.option(
    "--model",
    type=click.Choice(["popularity", "transitions", "sasrec", "hybrid"]),
    default="hybrid",
    show_default=True,
    help="Model to train.",
)
@click.option("--epochs", default=200, show_default=True, help="Upper bound on epochs.")
@click.option("--max-minutes", default=13.0, show_default=True, help="Training time budget.")
@click.option(
    "--patience",
    default=10,
    show_default=True,
    help="Epochs without validation gain before stopping.",
)
@click.option("--embedding-size", default=64, show_default=True)
@click.option("--num-layers", default=2, show_default=True)
@click.option("--num-heads", default=2, show_default=True)
@click.option("--max-len", default=50, show_default=True, help="Longest history read.")
@click.option("--dropout", default=0.3, show_default=True)
@click.option("--learning-rate", default=1e-3, show_default=True)
@click.option("--batch-size", default=128, show_default=True)
@click.option("--threads", default=0, help="Torch threads (0 = torch default).")
@click.option(
    "--ann-min-items",
    type=click.IntRange(min=1),
    default=None,
    help="Export an ANN index for catalogs of at least this many items (default 50,000 for "
    "sasrec, 200,000 for hybrid: through an index a hybrid's answers leave out its transitions); "
    "smaller ones are scored exactly.",
)
@click.option("--no-test", is_flag=True, help="Do not score the test split at the end.")
@click.option(
    "--refit",
    is_flag=True,
    help=(
        "After choosing settings on the held-out events, train again on every event and"
        " export that model (for production: each user's two newest events are held out"
        " otherwise; the metrics stay the held-out fit's; sasrec/hybrid take twice as long)."
    ),
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(
    data: Path,
    fmt: str | None,
    seed: int,
    out: Path,
    model: str,
    epochs: int,
    max_minutes: float,
    patience: int,
    embedding_size: int,
    num_layers: int,
    num_heads: int,
    max_len: int,
    dropout: float,
    learning_rate: float,
    batch_size: int,
    threads: int,
    ann_min_items: int | None,
    no_test: bool,
    refit: bool,
    quiet: bool,
) -> None:
    """Train MODEL on DATA (leave-one-out split) and write an artifact to --out.

    Hyper-parameters are chosen on the validation split; the test split is scored once at the
    end and recorded in the manifest.
    """
    from edgerec.artifact import check_output
    from edgerec.data import build_sequences, read_interactions
    from edgerec.train import SASRecConfig, train_model

    sasrec = SASRecConfig(
        embedding_size=embedding_size,
        num_layers=num_layers,
        num_heads=num_heads,
        max_len=max_len,
        dropout=dropout,
        attn_dropout=dropout,
        learning_rate=learning_rate,
        batch_size=batch_size,
        epochs=epochs,
        patience=patience,
        max_minutes=max_minutes,
        seed=seed,
        threads=threads,
    )
    if model in ("sasrec", "hybrid"):
        _require_torch()
    check_output(out)  # before the training it would waste
    sequences = build_sequences(read_interactions(data, fmt), seed=seed)
    outcome = train_model(
        sequences,
        model,
        out,
        sasrec=sasrec,
        score_test=not no_test,
        progress=not quiet,
        ann_min_items=ann_min_items,
        refit=refit,
    )
    refitted = " (refit on every event; the metrics are the held-out fit's)" if refit else ""
    click.echo(f"wrote {out}{refitted}")
    click.echo(json.dumps(outcome.manifest["metrics"], indent=2))


@main.command()
@_DATA
@_FORMAT
@_SEED
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Artifact trained on DATA to evaluate (repeatable).",
)
@click.option(
    "--published",
    default=None,
    help="Published rows to print beside ours (default: from the file name).",
)
@click.option("--split", type=click.Choice(["test", "valid"]), default="test", show_default=True)
def evaluate(
    data: Path,
    fmt: str | None,
    seed: int,
    artifacts: tuple[Path, ...],
    published: str | None,
    split: str,
) -> None:
    """Score baselines and artifacts on DATA under the papers' full-ranking protocol."""
    from edgerec.data import build_sequences, read_interactions
    from edgerec.evaluate import PUBLISHED, published_rows
    from edgerec.evaluate._benchmark import benchmark_table

    if published is not None and not published_rows(published):
        # Asked for by name, an unknown table must not pass for "nothing published".
        raise click.BadParameter(
            f"no published rows for {published!r}; known: {', '.join(sorted(PUBLISHED))}",
            param_hint="--published",
        )
    sequences = build_sequences(read_interactions(data, fmt), seed=seed)
    click.echo(benchmark_table(sequences, artifacts, published or data.stem, split))


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--expect-digest",
    default=None,
    help="Fail unless the artifact digest is this (full sha256 or its 16-digit version).",
)
def inspect(artifact: Path, expect_digest: str | None) -> None:
    """Verify every file digest of ARTIFACT and print its manifest with the artifact digest."""
    from edgerec.artifact import artifact_digest, check_digest, read_manifest, verify_files

    manifest = read_manifest(artifact)
    if expect_digest is not None:
        check_digest(artifact, manifest, expect_digest)
    verify_files(artifact, manifest)
    click.echo(json.dumps({"digest": artifact_digest(manifest), **manifest}, indent=2))


@main.command()
@click.option(
    "--artifact",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Artifact to serve (default: build and serve the demo shop).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML settings file (see config.example.toml).",
)
@click.option(
    "--catalog",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="CSV item_id,name,category to load into the store (names and categories).",
)
@click.option("--host", default=None, help="Interface (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option("--redis-url", default=None, help="redis://host:port/db shared cache.")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the SQLite event store lives (default ./edgerec-state).",
)
def serve(
    artifact: Path | None,
    config_file: Path | None,
    catalog: Path | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    redis_url: str | None,
    state_dir: Path | None,
) -> None:
    """Serve recommendations over HTTP (flags > EDGEREC_* env > --config TOML > defaults)."""
    # One worker per core: BLAS threads of their own would fight the other workers. Set before
    # numpy loads here and inherited by the worker processes.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    from edgerec.serve._launch import ensure_port_free, ensure_state_dir, launch
    from edgerec.serve._settings import load_settings

    overrides = {
        "artifact": artifact,
        "host": host,
        "port": port,
        "workers": workers,
        "redis_url": redis_url,
        "state_dir": state_dir,
    }
    settings = load_settings(overrides, config_file)
    # Before a first run's demo is built and trained, so a bad setting fails at once.
    ensure_port_free(settings.host, settings.port)
    ensure_state_dir(settings.state_dir)
    seed_events = None
    if settings.artifact is None:
        from edgerec.demo_model import ensure_demo
        from edgerec.logs import configure_json

        # The server's logging now, not in launch: a first run trains for about a minute, and
        # saying so beats a silent terminal.
        configure_json(settings.log_level)

        demo, catalog = ensure_demo(settings.state_dir / "demo")
        seed_events = demo.parent / "events.csv"
        settings = load_settings({**overrides, "artifact": demo}, config_file)
    launch(settings, catalog, seed_events)


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingExtraError("training sasrec/hybrid models", "train", "torch") from None


if __name__ == "__main__":
    main()
