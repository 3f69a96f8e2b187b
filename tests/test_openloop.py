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
from _load import _client, steal_ms


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
