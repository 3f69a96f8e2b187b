"""The benchmark suite's open-loop rates come from the maximum serving.py's report prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from serving import EDGE_ROW, report
from suite import rates_from


def _row(name: str, rps: float) -> dict[str, object]:
    return {"name": name, "rps": rps, "connections": 64, "sweep": {64: rps}}


def test_rates_are_shares_of_the_reported_maximum(capsys: pytest.CaptureFixture[str]) -> None:
    report([_row("hello world (granian, raw ASGI)", 72933.0), _row(EDGE_ROW, 14132.0)], 12101)
    assert rates_from(capsys.readouterr().out) == [3500, 7100, 11300]


def test_a_report_without_the_recommend_row_gives_no_rates() -> None:
    assert rates_from("hello world (granian, raw ASGI)  72933  64  1.00") is None


def test_a_path_that_is_not_an_artifact_is_refused_before_any_step(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "suite.py"
    done = subprocess.run(
        [sys.executable, str(script), "--beauty", str(tmp_path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "is not an artifact directory" in done.stderr
    assert not (tmp_path / "out").exists()
