"""The real server: `edgerec serve` with two granian workers, real SQLite and a real Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgerec.data import SequenceData
from edgerec.train import train_model
from tests.serve.conftest import TOKEN
from tests.servers import free_port, stop, wait_ready

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is needed for the e2e tests (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", process
    process.kill()
    process.wait()


@pytest.fixture
def server(
    tmp_path: Path, artifact: Path, redis_server: tuple[str, subprocess.Popen[bytes]]
) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "EDGEREC_ADMIN_TOKEN": TOKEN,
        "EDGEREC_RELOAD_INTERVAL_S": "0.2",
        "EDGEREC_LOG_LEVEL": "INFO",
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgerec.cli",
            "serve",
            "--artifact",
            str(artifact),
            "--port",
            str(port),
            "--workers",
            "2",
            "--redis-url",
            redis_server[0],
            "--state-dir",
            str(tmp_path / "state"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        stop(process)
        log.close()
        assert TOKEN not in (tmp_path / "server.log").read_text()


def fresh_get(url: str) -> httpx.Response:
    # A new connection each time, so granian spreads the requests over both workers.
    with httpx.Client(timeout=5) as http:
        return http.get(url)


def test_event_is_seen_by_every_worker_and_redis_outage_is_harmless(
    server: str, redis_server: tuple[str, subprocess.Popen[bytes]]
) -> None:
    first = fresh_get(server + "/v1/users/zoe/recommendations").json()
    assert first["source"] == "popular"
    with httpx.Client(timeout=5) as http:
        posted = http.post(
            server + "/v1/events", json={"events": [{"user_id": "zoe", "item_id": "sku-3"}]}
        )
    assert posted.status_code == 200
    answers = [fresh_get(server + "/v1/users/zoe/recommendations").json() for _ in range(20)]
    assert all(answer["source"] == "model" for answer in answers)
    # granian decodes the path it routes on: an id with an encoded "/" comes from the raw one.
    with httpx.Client(timeout=5) as http:
        http.post(server + "/v1/events", json={"events": [{"user_id": "b/2", "item_id": "sku-3"}]})
    slashed = fresh_get(server + "/v1/users/b%2F2/recommendations?k=3").json()
    assert slashed["user_id"] == "b/2" and slashed["source"] == "model"
    # Redis goes away mid-test: answers stay correct, only slower.
    redis_server[1].kill()
    redis_server[1].wait()
    for user in ("yan", "zoe", "xi"):
        response = fresh_get(server + f"/v1/users/{user}/recommendations?k=7")
        assert response.status_code == 200 and len(response.json()["items"]) == 7
    metrics = fresh_get(server + "/metrics").text
    assert "edgerec_redis_errors_total" in metrics


def test_hot_reload_under_load_has_no_failed_request(
    server: str, artifact: Path, planted: SequenceData
) -> None:
    old = fresh_get(server + "/version").json()["version"]
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=5) as http:
            while not stop.is_set():
                try:
                    response = http.get(server + "/v1/users/zoe/recommendations?k=5")
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        train_model(planted, "transitions", artifact, progress=False)  # atomic swap on disk
        deadline = time.monotonic() + 15
        versions: set[str] = set()
        while time.monotonic() < deadline:
            versions = {fresh_get(server + "/version").json()["version"] for _ in range(6)}
            if versions and old not in versions:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert old not in versions, "workers did not pick up the new artifact"
    assert failures == []


def test_openapi_fuzz_finds_no_server_error_or_spec_mismatch(server: str) -> None:
    """schemathesis' default checks: no 5xx, responses match the spec, bad input rejected."""
    binary = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [str(binary), "run", server + "/openapi.json", "-n", "40", "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def scrape(server: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = fresh_get(server + "/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_sums_every_worker(server: str) -> None:
    key = (
        "edgerec_http_requests_total",
        frozenset({("route", "/version"), ("method", "GET"), ("status", "200")}),
    )
    before = scrape(server).get(key, 0.0)
    for _ in range(40):
        assert fresh_get(server + "/version").status_code == 200
    time.sleep(1.2)  # the workers' once-a-second resource sample
    # Whichever worker answers the scrape, it reports the sum over both workers.
    for _ in range(6):
        samples = scrape(server)
        assert samples[key] == before + 40
    pids = {
        dict(labels)["pid"]
        for name, labels in samples
        if name == "edgerec_worker_resident_memory_bytes"
    }
    assert len(pids) == 2, "both workers should report their memory"
    assert samples[("edgerec_cpu_seconds_total", frozenset())] > 0


def worker_pids(server: str) -> set[int]:
    """The workers' process ids, as their once-a-second resource sample names them."""
    time.sleep(1.2)
    return {
        int(dict(labels)["pid"])
        for name, labels in scrape(server)
        if name == "edgerec_worker_resident_memory_bytes"
    }


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_every_thread_of_every_worker_runs_under_batch_scheduling(server: str) -> None:
    pids = worker_pids(server)
    assert len(pids) == 2
    for pid in pids:
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        # Granian's I/O thread and the Python thread at least, all started after the policy.
        assert len(threads) >= 2
        assert {os.sched_getscheduler(tid) for tid in threads} == {os.SCHED_BATCH}


def _wakeups(pid: int) -> int:
    """How often the thread ``pid`` has blocked and been woken (its voluntary switches)."""
    status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
    return int(
        next(line for line in status.splitlines() if line.startswith("voluntary_ctxt")).split()[1]
    )


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="Linux /proc")
def test_an_idle_worker_wakes_a_few_times_a_second(server: str) -> None:
    pids = worker_pids(server)
    assert len(pids) == 2
    time.sleep(0.5)  # the scrape's worker back to its idle pace
    before = {pid: _wakeups(pid) for pid in pids}
    time.sleep(2.0)
    # Probing its event loop's lag every 5 ms, an idle worker's loop thread woke ~400 times
    # in 2 s; at the idle pace (0.1 s) ~20, plus the once-a-second chores.
    for pid in pids:
        assert _wakeups(pid) - before[pid] < 100, pid
