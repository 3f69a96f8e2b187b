from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgerec.cli import main
from tests.conftest import planted_interactions
from tests.servers import free_port


@pytest.fixture
def log_csv(tmp_path: Path) -> Path:
    table = planted_interactions(users=80)
    path = tmp_path / "log.csv"
    rows = ["user_id,item_id,timestamp"] + [
        f"{u},{i},{t}"
        for u, i, t in zip(table.user_ids, table.item_ids, table.timestamps, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_train_options_default_to_the_model_config() -> None:
    # The CLI spells its defaults out (it does not import torch to show --help): they must
    # stay the library's.
    from edgerec.train import SASRecConfig

    train = main.commands["train"]  # type: ignore[attr-defined]
    defaults = {param.name: param.default for param in train.params}
    config = SASRecConfig()
    names = "epochs max_minutes patience embedding_size num_layers num_heads max_len dropout"
    for name in [*names.split(), "learning_rate", "batch_size", "threads"]:
        assert defaults[name] == getattr(config, name), name
    assert config.attn_dropout == config.dropout  # --dropout sets both


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["inspect"], ["serve"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_train_inspect_evaluate(tmp_path: Path, log_csv: Path) -> None:
    out = tmp_path / "artifact"
    runner = CliRunner()
    trained = runner.invoke(
        main, ["train", str(log_csv), "--model", "transitions", "--out", str(out)]
    )
    assert trained.exit_code == 0, trained.output
    inspected = runner.invoke(main, ["inspect", str(out)])
    described = json.loads(inspected.output)
    assert described["model_type"] == "transitions"
    pinned = runner.invoke(main, ["inspect", str(out), "--expect-digest", described["digest"]])
    assert pinned.exit_code == 0, pinned.output
    by_version = runner.invoke(
        main, ["inspect", str(out), "--expect-digest", described["digest"][:16]]
    )
    assert by_version.exit_code == 0, by_version.output
    wrong = runner.invoke(main, ["inspect", str(out), "--expect-digest", "0" * 64])
    assert wrong.exit_code == 1 and "wrong artifact" in wrong.output
    too_short = runner.invoke(
        main, ["inspect", str(out), "--expect-digest", described["digest"][:4]]
    )
    assert too_short.exit_code == 1
    table = runner.invoke(main, ["evaluate", str(log_csv), "--artifact", str(out)])
    assert table.exit_code == 0, table.output
    assert "transitions (artifact)" in table.output and "NDCG@10" in table.output


def test_a_refit_artifact_is_never_scored_on_the_events_it_trained_on(
    tmp_path: Path, log_csv: Path
) -> None:
    out = tmp_path / "refit"
    runner = CliRunner()
    arguments = ["train", str(log_csv), "--model", "transitions", "--refit", "--out", str(out)]
    trained = runner.invoke(main, arguments)
    assert trained.exit_code == 0, trained.output
    table = runner.invoke(main, ["evaluate", str(log_csv), "--artifact", str(out)])
    assert table.exit_code == 1 and "would not be honest" in table.output


def test_bad_data_exits_1_with_location_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp\nu,i,1\nu,j,not-a-time\n")
    out = tmp_path / "artifact"
    result = CliRunner().invoke(
        main, ["train", str(bad), "--model", "popularity", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "bad.csv, line 3, column timestamp" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_an_unwritable_out_exits_1_before_training(tmp_path: Path, log_csv: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "artifact"  # its parent is a file
    result = CliRunner().invoke(
        main, ["train", str(log_csv), "--model", "sasrec", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "cannot write an artifact there" in result.output and "Traceback" not in result.output
    assert "epoch" not in result.output  # refused before training, not after


def test_too_short_histories_exit_1(tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("user_id,item_id,timestamp\nu,i,1\nu,j,2\nv,i,1\n")
    result = CliRunner().invoke(main, ["train", str(short), "--out", str(tmp_path / "a")])
    assert result.exit_code == 1 and "no user has 3 or more events" in result.output


def test_tampered_artifact_exits_1(tmp_path: Path, log_csv: Path) -> None:
    out = tmp_path / "artifact"
    CliRunner().invoke(main, ["train", str(log_csv), "--model", "popularity", "--out", str(out)])
    (out / "popularity.npy").write_bytes(b"junk")
    result = CliRunner().invoke(main, ["inspect", str(out)])
    assert result.exit_code == 1 and "popularity.npy" in result.output


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(main, ["train", "x.csv", "--model", "nope", "--out", "y"])
    assert result.exit_code == 2


def test_an_unknown_published_table_is_a_usage_error(log_csv: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(log_csv), "--published", "Beuaty"])
    assert result.exit_code == 2 and "known: Beauty, Toys" in result.output


def test_train_exports_an_ann_index_from_the_size_asked(tmp_path: Path, log_csv: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "artifact"
    tiny = ["--epochs", "1", "--embedding-size", "16", "--num-layers", "1", "--num-heads", "1"]
    quick = [*tiny, "--max-len", "8", "--threads", "1", "--no-test", "--quiet"]
    command = ["train", str(log_csv), "--model", "sasrec", "--out", str(out)]
    result = CliRunner().invoke(main, [*command, "--ann-min-items", "1", *quick])
    assert result.exit_code == 0, result.output
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert "ann_vectors.npy" in files


def test_ann_min_items_must_be_positive_and_its_help_names_the_defaults() -> None:
    from edgerec.infer._ann import HYBRID_ANN_MIN_ITEMS, SASREC_ANN_MIN_ITEMS

    refused = CliRunner().invoke(main, ["train", "x.csv", "--out", "y", "--ann-min-items", "0"])
    assert refused.exit_code == 2 and "--ann-min-items" in refused.output
    shown = " ".join(
        CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output.split()
    )
    defaults = f"default {SASREC_ANN_MIN_ITEMS:,} for sasrec, {HYBRID_ANN_MIN_ITEMS:,} for hybrid"
    assert defaults in shown


def test_a_first_serve_says_it_is_building_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's training takes about a minute: its log line must reach the terminal."""
    import logging

    import edgerec.train

    def stop_before_training(*args: object, **kwargs: object) -> None:
        raise RuntimeError("stopped before training")

    monkeypatch.setattr(edgerec.train, "train_model", stop_before_training)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    level = root.level
    try:
        result = CliRunner().invoke(
            main, ["serve", "--state-dir", str(tmp_path), "--port", str(free_port())]
        )
    finally:
        root.setLevel(level)  # setLevel, not the attribute: it clears the loggers' caches
    assert isinstance(result.exception, RuntimeError)
    assert "first run: building the demo shop" in result.output


def test_train_reads_the_event_store_the_service_writes(tmp_path: Path) -> None:
    from edgerec.serve._store import Event, EventWriter, initialise

    table = planted_interactions(users=80)
    store = tmp_path / "state" / "events.sqlite3"
    initialise(store)
    writer = EventWriter(store)
    rows = zip(table.user_ids, table.item_ids, table.timestamps, strict=True)
    writer.append([Event(str(u), str(i), "view", float(t)) for u, i, t in rows]).result()
    writer.close()
    out = tmp_path / "artifact"
    result = CliRunner().invoke(
        main, ["train", str(store), "--model", "transitions", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["interactions"] == len(table)
