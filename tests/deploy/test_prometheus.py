"""deploy/prometheus checked by the real promtool, and its metric names against the service."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from edgerec.serve import _metrics
from tests.deploy.conftest import DEPLOY, require

PROMETHEUS = DEPLOY / "prometheus"


@pytest.mark.parametrize(
    "args",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "rules/recording.yml", "rules/alerts.yml"],
        ["test", "rules", "tests/alerts_test.yml"],
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool(args: list[str]) -> None:
    promtool = require("promtool", "prometheus")
    result = subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((PROMETHEUS / "rules/alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    fired: set[str] = set()
    quiet: set[str] = set()
    tests = yaml.safe_load((PROMETHEUS / "tests/alerts_test.yml").read_text())["tests"]
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    assert alerts - fired == set(), "alerts without a firing test"
    assert alerts - quiet == set(), "alerts without a test where they stay quiet"


def service_metric_names() -> set[str]:
    return {name for family in _metrics.FAMILIES for name in family.sample_names()}


def test_the_service_exposition_passes_promtool() -> None:
    promtool = require("promtool", "prometheus")
    _metrics.REQUESTS.labels("/v1/events", "POST", "200").inc()
    _metrics.LATENCY.labels("/v1/events").observe(0.004)
    text = _metrics.exposition({"pod": "edgerec-0", "node": "edge-1"})
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_and_dashboard_only_use_metrics_the_service_exports() -> None:
    texts = [
        (PROMETHEUS / "rules/recording.yml").read_text(),
        (PROMETHEUS / "rules/alerts.yml").read_text(),
        (DEPLOY / "grafana/dashboards/edgerec.json").read_text(),
    ]
    # Raw names only: recorded series (level:metric:ops) carry a metric name between colons.
    raw = re.compile(r"(?<![:\w])edgerec_[a-z_]+\b(?!:)")
    used = {name for text in texts for name in raw.findall(text)}
    exported = service_metric_names()
    assert "edgerec_http_request_duration_seconds_bucket" in used
    assert used - exported == set()
    assert json.loads(texts[2])["panels"]
