"""The Grafana dashboard, proven without Grafana: a real Prometheus (with the shipped rules)
scrapes a real `edgerec serve` under a short load, and every panel's query must return data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, require
from tests.servers import free_port, stop, wait_ready

pytestmark = pytest.mark.slow

DASHBOARD = DEPLOY / "grafana/dashboards/edgerec.json"


@pytest.fixture
def edgerec(tmp_path: Path, artifact: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "EDGEREC_POD": "edgerec-ci-0", "EDGEREC_NODE": "ci-node"}
    command = [sys.executable, "-m", "edgerec.cli", "serve", "--artifact", str(artifact)]
    command += ["--port", str(port), "--workers", "2", "--state-dir", str(tmp_path / "state")]
    # The node's Redis: if it is down the Redis panels still have data (misses and errors).
    command += ["--redis-url", "redis://127.0.0.1:6379/0"]
    log = (tmp_path / "edgerec.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        stop(process)
        log.close()


@pytest.fixture
def prometheus(tmp_path: Path, edgerec: str) -> Iterator[str]:
    binary = require("prometheus", "prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus/rules/recording.yml")],
        # The shipped config discovers pods by DNS; here the one local server is the target.
        "scrape_configs": [
            {"job_name": "edgerec", "static_configs": [{"targets": [edgerec.split("//")[1]]}]}
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "prometheus did not start:\n" + (tmp_path / "prometheus.log").read_text()
                )
            time.sleep(0.1)
        yield url
    finally:
        stop(process)
        log.close()


def drive(url: str, done: threading.Event) -> None:
    """Shoppers: known and unknown users, events, sessions, similar items and a few bad calls."""
    with httpx.Client(base_url=url, timeout=5) as http:
        step = 0
        while not done.is_set():
            step += 1
            http.get(f"/v1/users/u{step % 40}/recommendations?k=5")
            http.get(f"/v1/users/new-{step}/recommendations")
            http.get(f"/v1/items/sku-{step % 60}/similar?k=5")
            http.post("/v1/recommendations", json={"items": [f"sku-{step % 60}"], "k": 5})
            http.post("/v1/events", json={"events": [{"user_id": f"u{step}", "item_id": "sku-3"}]})
            http.get("/v1/nowhere")
            time.sleep(0.01)


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_every_panel_query_returns_data(prometheus: str, edgerec: str) -> None:
    queries = panel_queries()
    assert len(queries) >= 15
    stop_at = time.monotonic() + 90
    done = threading.Event()
    load = threading.Thread(target=drive, args=(edgerec, done))
    load.start()
    failing: dict[str, str] = {}
    try:
        time.sleep(8)
        while time.monotonic() < stop_at:
            failing = {}
            for title, expr in queries:
                body = httpx.get(prometheus + "/api/v1/query", params={"query": expr}).json()
                if body.get("status") != "success":
                    failing[f"{title}: {expr}"] = f"error {body.get('error')}"
                elif not body["data"]["result"]:
                    failing[f"{title}: {expr}"] = "no data"
            if not failing:
                break
            time.sleep(2)
    finally:
        done.set()
        load.join()
    assert failing == {}


def test_panels_name_the_provisioned_data_source() -> None:
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )["datasources"]
    uids = {source["uid"] for source in datasources}
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids
        assert all(target["datasource"]["uid"] in uids for target in panel["targets"])
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
