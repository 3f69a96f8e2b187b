"""Counters, gauges and histograms in plain Python, summed over worker processes through files.

Each worker updates its own values in memory (an attribute add: no lock, no syscall) and
`publish` writes all of them to ``<directory>/<pid>.json``, once a second; a scrape of any
worker merges every worker's file into Prometheus' text format (version 0.0.4). Written here
rather than with prometheus_client, whose import (with http.server, urllib and email behind
it) was ~32 ms of every start-up, and whose multiprocess updates each made a getpid()
syscall and took a lock (~8% of a recommendation's CPU time, py-spy).

Counters and histograms sum over every file, a dead worker's too, so totals never go back when
a worker is replaced; gauges describe the present and read live workers' files only.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

# One family's samples in a snapshot: [label values, value], a histogram's value being its
# per-bucket (not cumulative) counts with +Inf's last, then the sum.
Snapshot = dict[str, list[list[Any]]]


class Value:
    """The value of one label set of a counter or a gauge."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = float(value)

    def state(self) -> float:
        return self.value


class Buckets:
    """The observations of one label set of a histogram: a count per bucket, and their sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last bucket is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # A bucket holds the values <= its bound: bisect_left finds that bucket.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def state(self) -> list[float]:
        return [*self.counts, self.sum]


class Family:
    """A named metric and its label sets. ``kind`` is counter, gauge or histogram; a gauge's
    ``mode`` says how workers combine: "sum", "max", or "each" (a series per worker, labelled
    with its pid)."""

    def __init__(
        self,
        kind: str,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        *,
        mode: str = "sum",
        buckets: Iterable[float] = (),
    ) -> None:
        if kind not in ("counter", "gauge", "histogram") or mode not in ("sum", "max", "each"):
            raise ValueError(f"{name}: unknown kind {kind!r} or mode {mode!r}")
        if mode != "sum" and kind != "gauge":
            raise ValueError(f"{name}: a {kind} always sums over workers (mode {mode!r})")
        self.kind, self.name, self.documentation, self.mode = kind, name, documentation, mode
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(sorted(float(bound) for bound in buckets))
        if kind == "histogram" and (not self.bounds or math.isinf(self.bounds[-1])):
            raise ValueError(f"{name}: a histogram needs finite bucket bounds (+Inf is implied)")
        self._series: dict[tuple[str, ...], Any] = {}
        # Unlabelled: the family is its own only series (inc/set/observe below).
        self._only = self.labels() if not self.labelnames else None

    def labels(self, *values: object) -> Any:
        """The series of these label values (a `Value`, or `Buckets` for a histogram)."""
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        key = tuple(str(value) for value in values)
        series = self._series.get(key)
        if series is None:
            series = Buckets(self.bounds) if self.kind == "histogram" else Value()
            self._series[key] = series
        return series

    def inc(self, amount: float = 1.0) -> None:
        self._only.inc(amount)  # type: ignore[union-attr]

    def set(self, value: float) -> None:
        self._only.set(value)  # type: ignore[union-attr]

    def observe(self, value: float) -> None:
        self._only.observe(value)  # type: ignore[union-attr]

    def sample_names(self) -> list[str]:
        if self.kind == "histogram":
            return [self.name + suffix for suffix in ("", "_bucket", "_count", "_sum")]
        return [self.name]

    def snapshot(self) -> list[list[Any]]:
        return [[list(key), series.state()] for key, series in self._series.items()]


def snapshot(families: Iterable[Family]) -> Snapshot:
    return {family.name: family.snapshot() for family in families}


def publish(families: Iterable[Family], directory: Path) -> None:
    """Write this worker's values where the other workers' scrapes read them (atomically: a
    scrape never reads half a file)."""
    path = directory / f"{os.getpid()}.json"
    partial = path.with_suffix(".partial")
    partial.write_bytes(orjson.dumps(snapshot(families)))
    os.replace(partial, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def gather(families: Iterable[Family], directory: Path | None) -> list[tuple[int, bool, Snapshot]]:
    """(pid, alive, snapshot) of this worker (from memory) and of every other one's file."""
    own = os.getpid()
    found = [(own, True, snapshot(families))]
    if directory is None:
        return found
    for path in sorted(directory.glob("*.json")):
        if not path.stem.isdigit() or int(path.stem) == own:
            continue
        try:
            values = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):  # gone meanwhile, or not ours
            continue
        if isinstance(values, dict):
            found.append((int(path.stem), _alive(int(path.stem)), values))
    return found


def _entries(family: Family, values: Snapshot) -> Iterator[tuple[list[str], Any]]:
    """A worker's well-formed (labels, state) entries of ``family``: a file that is not what
    this code writes (another version's, say) must not fail the scrape."""
    entries = values.get(family.name)
    for entry in entries if isinstance(entries, list) else []:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)):
            continue
        labels, state = entry
        if len(labels) != len(family.labelnames) or not all(isinstance(x, str) for x in labels):
            continue
        if family.kind == "histogram":
            # Per-bucket counts with +Inf's, then the sum.
            well_formed = (
                isinstance(state, list)
                and len(state) == len(family.bounds) + 2
                and all(isinstance(x, int | float) for x in state)
            )
        else:
            well_formed = isinstance(state, int | float)
        if well_formed:
            yield labels, state


def _merged(
    family: Family, workers: list[tuple[int, bool, Snapshot]]
) -> dict[tuple[str, ...], Any]:
    merged: dict[tuple[str, ...], Any] = {}
    for pid, alive, values in workers:
        if family.kind == "gauge" and not alive:
            continue
        for labels, state in _entries(family, values):
            key = tuple(labels) + ((str(pid),) if family.mode == "each" else ())
            if key not in merged:
                merged[key] = list(state) if isinstance(state, list) else state
            elif family.kind == "histogram":
                merged[key] = [a + b for a, b in zip(merged[key], state, strict=True)]
            elif family.mode == "max" and family.kind == "gauge":
                merged[key] = max(merged[key], state)
            else:
                merged[key] = merged[key] + state
    return merged


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return "NaN" if math.isnan(value) else repr(float(value))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(pairs))
    return "{" + inner + "}" if inner else ""


def _lines(
    family: Family, merged: dict[tuple[str, ...], Any], extra: dict[str, str]
) -> Iterator[str]:
    names = family.labelnames + (("pid",) if family.mode == "each" else ())
    help_text = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
    yield f"# HELP {family.name} {help_text}"
    yield f"# TYPE {family.name} {family.kind}"
    for key in sorted(merged):
        pairs = [*zip(names, key, strict=True), *extra.items()]
        state = merged[key]
        if family.kind != "histogram":
            yield f"{family.name}{_labels(pairs)} {_number(state)}"
            continue
        total = 0.0
        for bound, count in zip((*family.bounds, math.inf), state[:-1], strict=True):
            total += count
            yield f"{family.name}_bucket{_labels([*pairs, ('le', _number(bound))])} {total!r}"
        yield f"{family.name}_count{_labels(pairs)} {total!r}"
        yield f"{family.name}_sum{_labels(pairs)} {_number(state[-1])}"


def exposition(
    families: Iterable[Family], directory: Path | None, extra: dict[str, str] | None = None
) -> bytes:
    """The text format of every family, merged over the workers that publish to
    ``directory`` (this process alone without one), ``extra`` labels on every sample."""
    families = list(families)
    workers = gather(families, directory)
    lines = [
        line
        for family in families
        for line in _lines(family, _merged(family, workers), extra or {})
    ]
    return ("\n".join(lines) + "\n").encode()
