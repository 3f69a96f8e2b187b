"""The service's own metrics: Prometheus' text format, and the sum over worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgerec.serve import _metrics
from edgerec.serve._metric_types import Family, exposition, publish

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parsed(text: bytes) -> Samples:
    """Every sample as the reference parser reads it."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def families() -> tuple[Family, Family, Family, Family, Family]:
    return (
        Family("counter", "hits_total", "Hits.", ["route"]),
        Family("histogram", "latency_seconds", "Latency.", ["route"], buckets=(0.01, 0.1, 1)),
        Family("gauge", "inflight", "In flight."),
        Family("gauge", "version_info", "Version.", ["version"], mode="max"),
        Family("gauge", "memory_bytes", "Memory.", mode="each"),
    )


def dead_pid() -> int:
    """The pid of a process that has exited."""
    script = "import os; print(os.getpid())"
    child = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return int(child.stdout)


def test_one_process_exposition_reads_back_exactly() -> None:
    hits, latency, inflight, version, memory = metrics = families()
    hits.labels('/a "quoted"\\path\n').inc()
    hits.labels("/b").inc(2)
    for value in (0.0, 0.01, 0.05, 0.1, 3.0):  # bounds themselves fall in their own bucket
        latency.labels("/b").observe(value)
    inflight.set(3)
    version.labels("v1").set(1)
    memory.set(1024)
    samples = parsed(exposition(metrics, None, {"pod": "p-0"}))
    pod = ("pod", "p-0")
    assert samples[("hits_total", frozenset({("route", '/a "quoted"\\path\n'), pod}))] == 1
    assert samples[("hits_total", frozenset({("route", "/b"), pod}))] == 2
    buckets = {
        le: samples[("latency_seconds_bucket", frozenset({("route", "/b"), ("le", le), pod}))]
        for le in ("0.01", "0.1", "1.0", "+Inf")
    }
    assert buckets == {"0.01": 2, "0.1": 4, "1.0": 4, "+Inf": 5}  # cumulative
    assert samples[("latency_seconds_count", frozenset({("route", "/b"), pod}))] == 5
    assert samples[("latency_seconds_sum", frozenset({("route", "/b"), pod}))] == pytest.approx(
        3.16
    )
    assert samples[("inflight", frozenset({pod}))] == 3
    assert samples[("version_info", frozenset({("version", "v1"), pod}))] == 1
    assert samples[("memory_bytes", frozenset({("pid", str(os.getpid())), pod}))] == 1024


def test_a_scrape_sums_the_workers_and_reads_gauges_of_live_ones(tmp_path: Path) -> None:
    metrics = families()
    hits, latency, inflight, version, memory = metrics
    hits.labels("/a").inc(5)
    latency.labels("/a").observe(0.05)
    inflight.set(2)
    version.labels("v2").set(1)
    memory.set(100)
    live, dead = os.getppid(), dead_pid()  # another live process (this one's parent) and a gone one
    # What two other workers published: the same families, their own values.
    for pid, scale in ((live, 1), (dead, 10)):
        other = {
            "hits_total": [[["/a"], 1.0 * scale], [["/c"], 4.0 * scale]],
            "latency_seconds": [[["/a"], [0, scale, 0, 0, 0.02 * scale]]],
            "inflight": [[[], 1.0 * scale]],
            "version_info": [[["v1"], 0.0], [["v2"], 1.0]],
            "memory_bytes": [[[], 7.0 * scale]],
        }
        (tmp_path / f"{pid}.json").write_bytes(orjson.dumps(other))
    (tmp_path / "notes.json").write_text("not a worker's file")
    (tmp_path / "123.json").write_text("{truncated")
    # Another version's file, say (from a live process: pid 1): entries of the wrong shape
    # are left out, not a failure.
    odd = {
        "hits_total": [[["/a", "extra"], 1.0], [["/a"], [1.0]], ["flat"], [["/a"], "1"]],
        "latency_seconds": [[["/a"], [1, 2]], [["/a"], 5.0]],
        "inflight": {"not": "a list"},
        "memory_bytes": [[["9"], 1.0], [[], None]],
    }
    (tmp_path / "1.json").write_bytes(orjson.dumps(odd))
    samples = parsed(exposition(metrics, tmp_path))
    # Counters and histograms: every worker, the dead one too (totals never go back).
    assert samples[("hits_total", frozenset({("route", "/a")}))] == 5 + 1 + 10
    assert samples[("hits_total", frozenset({("route", "/c")}))] == 4 + 40
    count = samples[("latency_seconds_count", frozenset({("route", "/a")}))]
    assert count == 1 + 1 + 10
    # Gauges: live workers only, summed, maxed, or one series each.
    assert samples[("inflight", frozenset())] == 2 + 1
    assert samples[("version_info", frozenset({("version", "v1")}))] == 0
    assert samples[("version_info", frozenset({("version", "v2")}))] == 1
    memory_series = {
        dict(labels)["pid"]: value
        for (name, labels), value in samples.items()
        if name == "memory_bytes"
    }
    assert memory_series == {str(os.getpid()): 100, str(live): 7}


def test_published_values_are_what_another_worker_reads(tmp_path: Path) -> None:
    mine = families()
    mine[0].labels("/a").inc(3)
    publish(mine, tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == [f"{os.getpid()}.json"]
    # Another worker (its own families, nothing counted) reads this one's file: it is not
    # its own pid, so here the file is renamed to this test's parent's.
    (tmp_path / f"{os.getpid()}.json").rename(tmp_path / f"{os.getppid()}.json")
    samples = parsed(exposition(families(), tmp_path))
    assert samples[("hits_total", frozenset({("route", "/a")}))] == 3


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("summary", {}),
        ("gauge", {"mode": "min"}),
        ("counter", {"mode": "max"}),
        ("histogram", {}),
        ("histogram", {"buckets": [1, float("inf")]}),
    ],
)
def test_bad_definitions_are_refused(kind: str, options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Family(kind, "x", "X.", **options)  # type: ignore[arg-type]


def test_label_values_must_match_the_names() -> None:
    hits = families()[0]
    with pytest.raises(ValueError, match="takes labels"):
        hits.labels("/a", "extra")


def test_a_failed_publish_is_logged_once_and_never_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(_metrics.METRICS_DIR_ENV, str(tmp_path / "gone"))
    _metrics.publish()
    _metrics.publish()
    assert caplog.text.count("metrics not shared") == 1
    (tmp_path / "gone").mkdir()
    _metrics.publish()  # works again: the next failure is logged again
    assert (tmp_path / "gone" / f"{os.getpid()}.json").exists()
    (tmp_path / "gone" / f"{os.getpid()}.json").unlink()
    (tmp_path / "gone").rmdir()
    _metrics.publish()
    assert caplog.text.count("metrics not shared") == 2
