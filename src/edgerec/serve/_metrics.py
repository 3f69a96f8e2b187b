"""Every Prometheus metric of the service, in one place (names agreed with deploy/).

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set by `edgerec serve` before
this module is imported, and a scrape of any worker returns the sum over all workers.
"""

from __future__ import annotations

import functools
import os
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

NAMESPACE = "edgerec"
# Fine enough to tell 1 ms from 5 ms from 50 ms (the users' targets are 5/25/50/100 ms).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
ROUTES = (
    "/healthz",
    "/readyz",
    "/version",
    "/metrics",
    "/openapi.json",
    "/v1/users/{user_id}/recommendations",
    "/v1/recommendations",
    "/v1/items/{item_id}/similar",
    "/v1/events",
    "/v1/admin/reload",
    "/v1/admin/cache/flush",
    "unmatched",
)

REQUESTS = Counter(
    "requests_total",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
    namespace=NAMESPACE,
    subsystem="http",
)
LATENCY = Histogram(
    "request_duration_seconds",
    "HTTP request latency by route template.",
    ["route"],
    namespace=NAMESPACE,
    subsystem="http",
    buckets=LATENCY_BUCKETS,
)
INFLIGHT = Gauge(
    "inflight_requests",
    "Requests being handled (sampled once a second and at each scrape).",
    namespace=NAMESPACE,
    subsystem="http",
    multiprocess_mode="livesum",
)
SHED = Counter(
    "shed_total",
    "Requests refused with 503 because the worker was overloaded.",
    namespace=NAMESPACE,
    subsystem="http",
)
EVENTS = Counter("events_ingested_total", "Events durably written to SQLite.", namespace=NAMESPACE)
CACHE = Counter(
    "cache_requests_total",
    "Cache lookups by layer (process, redis, sqlite).",
    ["layer", "result"],
    namespace=NAMESPACE,
)
FALLBACKS = Counter(
    "fallback_total", "Answers not from the model, by source.", ["source"], namespace=NAMESPACE
)
REDIS_ERRORS = Counter(
    "redis_errors_total", "Redis calls that failed or timed out.", namespace=NAMESPACE
)
MODEL_INFO = Gauge(
    "model_info",
    "1 for the artifact version each worker serves.",
    ["version", "model_type"],
    namespace=NAMESPACE,
    multiprocess_mode="max",
)
MODEL_AGE = Gauge(
    "model_age_seconds",
    "Seconds since the served artifact was created.",
    namespace=NAMESPACE,
    multiprocess_mode="max",
)
MODEL_CREATED = Gauge(
    "model_created_timestamp_seconds",
    "Creation time of the served artifact.",
    namespace=NAMESPACE,
    multiprocess_mode="max",
)
WORKER_MEMORY = Gauge(
    "worker_resident_memory_bytes",
    "Resident memory of each worker process (label pid); shared mmapped pages count in each.",
    namespace=NAMESPACE,
    multiprocess_mode="liveall",
)
CPU = Counter(
    "cpu_seconds_total",
    "CPU time (user + system) used by the worker processes.",
    namespace=NAMESPACE,
)
BATCH_SIZE = Histogram(
    "batch_size",
    "Recommendation queries scored together in one micro-batch.",
    namespace=NAMESPACE,
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
RELOADS = Counter(
    "model_reloads_total", "Artifact reload attempts by result.", ["result"], namespace=NAMESPACE
)


# Label children resolved once: `labels()` validates and locks on every call, which the hot
# path pays several times per request.
CACHE_RESULT = {
    (layer, hit): CACHE.labels(layer, "hit" if hit else "miss")
    for layer in ("process", "redis", "sqlite")
    for hit in (True, False)
}


@functools.cache
def request_counter(route: str, method: str, status: int) -> Any:
    return REQUESTS.labels(route, method, str(status))


@functools.cache
def fallback_counter(source: str) -> Any:
    return FALLBACKS.labels(source)


@functools.cache
def route_latency(route: str) -> Any:
    return LATENCY.labels(route)


class Tally:
    """Hot-path counts and histogram observations (latencies, batch sizes) kept in plain
    Python, applied to the shared metrics by `flush` (once a second, and before this worker
    answers a scrape).

    In multiprocess mode every prometheus_client update makes a getpid() syscall and takes a
    lock; the ~7 updates of each request were ~8% of a recommendation's CPU time (py-spy,
    Beauty). A scrape may miss up to a second of another worker's requests.
    """

    def __init__(self) -> None:
        self._counts: dict[Any, float] = {}
        self._histograms: dict[Any, list[float]] = {}

    def count(self, child: Any, amount: float = 1.0) -> None:
        self._counts[child] = self._counts.get(child, 0.0) + amount

    def observe(self, child: Any, value: float) -> None:
        slots = self._histograms.get(child)
        if slots is None:
            # One slot per bucket (the last is +Inf), then the sum.
            slots = self._histograms[child] = [0.0] * (len(child._upper_bounds) + 1)
        # Histogram buckets hold values <= their bound: bisect_left finds that bucket.
        slots[bisect_left(child._upper_bounds, value)] += 1
        slots[-1] += value

    def flush(self) -> None:
        counts, self._counts = self._counts, {}
        for child, amount in counts.items():
            child.inc(amount)
        histograms, self._histograms = self._histograms, {}
        for child, slots in histograms.items():
            # prometheus_client keeps per-bucket (not cumulative) values and a sum; no public
            # bulk-observe exists. tests/serve/test_metrics.py pins this to observe()'s result.
            for bucket, hits in zip(child._buckets, slots[:-1], strict=True):
                if hits:
                    bucket.inc(hits)
            child._sum.inc(slots[-1])


TALLY = Tally()


def prime() -> None:
    """Pre-initialise label sets so every series exists from the first scrape."""
    for source in ("popular", "unscored"):
        FALLBACKS.labels(source)
    for result in ("ok", "refused"):
        RELOADS.labels(result)


class ProcessSampler:
    """Feeds the worker's own CPU and memory into the shared registry (the dashboard's per-pod
    panels), since the multiprocess collector drops prometheus_client's process metrics."""

    def __init__(self) -> None:
        self._cpu = 0.0
        self._page = os.sysconf("SC_PAGE_SIZE")

    def sample(self) -> None:
        times = os.times()
        cpu = times.user + times.system
        CPU.inc(max(0.0, cpu - self._cpu))
        self._cpu = cpu
        try:
            with open("/proc/self/statm", "rb") as handle:
                WORKER_MEMORY.set(int(handle.read().split()[1]) * self._page)
        except OSError:  # not Linux: no per-worker memory series
            pass


class _Labelled:
    """A collector adding the pod's identity to every sample: the Prometheus scrape config then
    needs no Kubernetes API access (DNS discovery) and still tells pods and nodes apart."""

    def __init__(self, inner: Collector, labels: Mapping[str, str]) -> None:
        self._inner = inner
        self._labels = dict(labels)

    def collect(self) -> Iterable[Metric]:
        for family in self._inner.collect():
            family.samples = [
                sample._replace(labels={**sample.labels, **self._labels})
                for sample in family.samples
            ]
            yield family


def exposition(identity: Mapping[str, str] | None = None) -> bytes:
    """The text format of every metric, summed over workers, with ``identity`` labels added."""
    TALLY.flush()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    source: Collector
    if directory:
        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source, path=directory)  # type: ignore[no-untyped-call]
    else:
        source = REGISTRY
    if not identity:
        return generate_latest(source)
    registry = CollectorRegistry()
    registry.register(_Labelled(source, identity))
    return generate_latest(registry)
