"""The benchmarks' open-loop client: its latency figures and its account of its own stalls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _load import _client, open_loop_latency, process_cpu_ms, steal_ms


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
    # Head and body go out as two writes: with Nagle's algorithm the body waited for the
    # client's delayed acknowledgement of the head (~40 ms a request).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = b'{"hello":"world"}'
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hello_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _run(port: int, tmp_path: Path, pause_s: float) -> list[float]:
    """Fields of one 1.5 s run at 200 RPS, the client stopped for ``pause_s`` after 0.5 s."""
    paths = tmp_path / "paths"
    paths.write_text("/hello\n")
    command = [str(_client()), "127.0.0.1", str(port), "200", "1.5", "4", str(paths)]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if pause_s:
        time.sleep(0.5)
        os.kill(client.pid, signal.SIGSTOP)
        time.sleep(pause_s)
        os.kill(client.pid, signal.SIGCONT)
    output, _ = client.communicate(timeout=30)
    assert client.returncode == 0
    return [float(value) for value in output.split()]


def test_a_steady_run_answers_every_request_and_reports_no_long_stall(
    hello_port: int, tmp_path: Path
) -> None:
    fields = _run(hello_port, tmp_path, 0.0)
    sent, done, failed, achieved, p50, p99, p999, worst = fields[:8]
    stalled, longest, steady_p99, steady = fields[8:]
    assert (sent, done, failed) == (300, 300, 0)
    assert 150 < achieved < 250
    assert 0 < p50 <= p99 <= p999 <= worst
    assert longest <= stalled
    # Unpaused, only the machine's own hiccups (a stolen virtual CPU) can stall the client.
    assert done - 30 <= steady <= done and steady_p99 > 0


def test_a_stopped_client_counts_its_stall_and_leaves_those_requests_out_of_the_steady_p99(
    hello_port: int, tmp_path: Path
) -> None:
    fields = _run(hello_port, tmp_path, 0.2)
    done, p99 = fields[1], fields[5]
    stalled, longest, steady_p99, steady = fields[8:]
    assert done == 300
    assert longest >= 150  # ms: the 200 ms stop, give or take the signals' timing
    assert stalled >= longest
    # ~40 requests fell due while the client was stopped (200 RPS for 0.2 s): all late.
    assert 20 <= done - steady <= 60
    assert p99 >= 100 and steady_p99 < p99


def test_steal_times_are_per_cpu_and_never_negative() -> None:
    steal = steal_ms()
    if not steal:
        pytest.skip("no /proc/stat here")
    assert set(steal) == set(range(len(steal)))
    assert all(value >= 0 for value in steal.values())


def test_a_process_cpu_time_counts_its_work_not_its_sleep() -> None:
    # Spun by CPU time, not wall time, and reported when done: a loaded machine cannot make
    # the child's work smaller or late.
    spin = "import time\nwhile time.process_time() < 0.4: pass\n"
    report_and_sleep = "print('ready', flush=True)\ntime.sleep(30)\n"
    busy, idle = (
        subprocess.Popen([sys.executable, "-c", code + report_and_sleep], stdout=subprocess.PIPE)
        for code in (spin, "import time\n")
    )
    try:
        assert busy.stdout is not None and idle.stdout is not None
        for child_out in (busy.stdout, idle.stdout):
            child_out.readline()
        busy_ms, idle_ms = process_cpu_ms(busy.pid), process_cpu_ms(idle.pid)
        if busy_ms is None:
            pytest.skip("no per-process CPU clock here")
        assert idle_ms is not None
        assert busy_ms >= 400  # the spin, start-up included
        assert idle_ms < busy_ms - 250  # start-up only
    finally:
        for child in (busy, idle):
            child.kill()
            child.communicate()  # reaps it and closes its pipe
    assert process_cpu_ms(busy.pid) is None  # gone (and reaped): no clock


def test_a_latency_run_reports_how_busy_the_cores_and_the_server_were(hello_port: int) -> None:
    row = open_loop_latency("127.0.0.1", hello_port, lambda i: "/hello", 200, 0.5, 4,
                            server_pid=os.getpid())  # fmt: skip
    if "busy_share_cpu0" not in row:
        pytest.skip("no /proc/stat here")
    shares = [value for key, value in row.items() if key.startswith("busy_share_cpu")]
    # 10 ms counters over a ~0.5 s run: a couple of percent either way.
    assert all(-0.05 <= share <= 1.05 for share in shares)
    # This process answered the 100 requests on its server threads: some CPU, and far from
    # two cores' worth at 200 RPS.
    assert 0 < row["server_share"] < 2.0
    assert row["server_us_per_answer"] > 0
