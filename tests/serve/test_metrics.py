"""The deferred hot-path metrics end up exactly where direct prometheus_client calls put them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from edgerec.serve._metrics import LATENCY_BUCKETS, Tally


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_a_flushed_tally_equals_direct_updates() -> None:
    direct, deferred = CollectorRegistry(), CollectorRegistry()
    metrics = [
        (
            Histogram("latency", "", ["route"], buckets=LATENCY_BUCKETS, registry=registry),
            Counter("hits", "", ["route"], registry=registry),
        )
        for registry in (direct, deferred)
    ]
    # Every bucket bound itself, values between and beyond them, and two routes.
    values = [*LATENCY_BUCKETS, 0.0, 0.0001, 0.0042, 0.07, 3.0, 99.0]
    tally = Tally()
    for route in ("/a", "/b"):
        for value in values:
            metrics[0][0].labels(route).observe(value)
            metrics[0][1].labels(route).inc()
            tally.observe(metrics[1][0].labels(route), value)
            tally.count(metrics[1][1].labels(route))
    assert samples(deferred) != samples(direct)  # nothing applied before the flush
    tally.flush()
    assert samples(deferred) == samples(direct)
    tally.flush()  # a second flush adds nothing
    assert samples(deferred) == samples(direct)
