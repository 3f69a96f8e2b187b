"""Every Prometheus metric of the service, in one place (names agreed with deploy/).

With several worker processes, `edgerec serve` sets ``EDGEREC_METRICS_DIR`` (a directory of
its own per start): each worker publishes its values there once a second (`publish`), and a
scrape of any worker returns the sum over all of them (`exposition`; see `_metric_types`). A
scrape may miss up to a second of another worker's requests.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from edgerec.serve import _metric_types
from edgerec.serve._metric_types import Buckets, Family, Value

logger = logging.getLogger(__name__)

METRICS_DIR_ENV = "EDGEREC_METRICS_DIR"
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

REQUESTS = Family(
    "counter",
    "edgerec_http_requests_total",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Family(
    "histogram",
    "edgerec_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
INFLIGHT = Family(
    "gauge",
    "edgerec_http_inflight_requests",
    "Requests being handled (sampled once a second and at each scrape).",
)
SHED = Family(
    "counter",
    "edgerec_http_shed_total",
    "Requests refused with 503 because the worker was overloaded.",
)
EVENTS = Family("counter", "edgerec_events_ingested_total", "Events durably written to SQLite.")
CACHE = Family(
    "counter",
    "edgerec_cache_requests_total",
    "Cache lookups by layer (process, redis, sqlite).",
    ["layer", "result"],
)
FALLBACKS = Family(
    "counter", "edgerec_fallback_total", "Answers not from the model, by source.", ["source"]
)
REDIS_ERRORS = Family(
    "counter", "edgerec_redis_errors_total", "Redis calls that failed or timed out."
)
MODEL_INFO = Family(
    "gauge",
    "edgerec_model_info",
    "1 for the artifact version each worker serves.",
    ["version", "model_type"],
    mode="max",
)
MODEL_AGE = Family(
    "gauge",
    "edgerec_model_age_seconds",
    "Seconds since the served artifact was created.",
    mode="max",
)
MODEL_CREATED = Family(
    "gauge",
    "edgerec_model_created_timestamp_seconds",
    "Creation time of the served artifact.",
    mode="max",
)
WORKER_MEMORY = Family(
    "gauge",
    "edgerec_worker_resident_memory_bytes",
    "Resident memory of each worker process (label pid); shared mmapped pages count in each.",
    mode="each",
)
CPU = Family(
    "counter",
    "edgerec_cpu_seconds_total",
    "CPU time (user + system) used by the worker processes.",
)
BATCH_SIZE = Family(
    "histogram",
    "edgerec_batch_size",
    "Recommendation queries scored together in one micro-batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
RELOADS = Family(
    "counter", "edgerec_model_reloads_total", "Artifact reload attempts by result.", ["result"]
)
FAMILIES = (
    REQUESTS,
    LATENCY,
    INFLIGHT,
    SHED,
    EVENTS,
    CACHE,
    FALLBACKS,
    REDIS_ERRORS,
    MODEL_INFO,
    MODEL_AGE,
    MODEL_CREATED,
    WORKER_MEMORY,
    CPU,
    BATCH_SIZE,
    RELOADS,
)

# Series resolved once: the hot path would otherwise build and look up a key several times
# per request.
CACHE_RESULT = {
    (layer, hit): CACHE.labels(layer, "hit" if hit else "miss")
    for layer in ("process", "redis", "sqlite")
    for hit in (True, False)
}


@cache
def request_counter(route: str, method: str, status: int) -> Value:
    series: Value = REQUESTS.labels(route, method, str(status))
    return series


@cache
def fallback_counter(source: str) -> Value:
    series: Value = FALLBACKS.labels(source)
    return series


@cache
def route_latency(route: str) -> Buckets:
    series: Buckets = LATENCY.labels(route)
    return series


def prime() -> None:
    """Pre-initialise label sets so every series exists from the first scrape."""
    for source in ("popular", "unscored"):
        FALLBACKS.labels(source)
    for result in ("ok", "refused"):
        RELOADS.labels(result)


_publish_failed = False


def _directory() -> Path | None:
    directory = os.environ.get(METRICS_DIR_ENV)
    return Path(directory) if directory else None


def publish() -> None:
    """Share this worker's values with the other workers' scrapes (once a second). A failed
    write (directory gone, disk full) is logged once, not raised: metrics must never stop the
    worker's background work; other workers' scrapes then miss this one until a write works."""
    global _publish_failed
    directory = _directory()
    if directory is None:
        return
    try:
        _metric_types.publish(FAMILIES, directory)
    except OSError as exc:
        if not _publish_failed:
            logger.warning("metrics not shared with the other workers: %s", exc)
        _publish_failed = True
    else:
        _publish_failed = False


class ProcessSampler:
    """Feeds the worker's own CPU and memory into the metrics (the dashboard's per-pod
    panels)."""

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


def exposition(identity: Mapping[str, str] | None = None) -> bytes:
    """The text format of every metric, summed over workers, with ``identity`` labels added
    (the pod's: the Prometheus scrape config then needs no Kubernetes API access)."""
    return _metric_types.exposition(FAMILIES, _directory(), dict(identity or {}))
