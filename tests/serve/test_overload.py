"""Overload on the real server: a worker flooded past its capacity sheds early with 503 and
Retry-After, and the requests it admits keep a short latency."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgerec.data import build_sequences
from edgerec.serve._store import Event, EventWriter, initialise
from edgerec.train import SASRecConfig, train_model
from tests.conftest import planted_interactions
from tests.servers import free_port, stop, wait_ready

pytestmark = pytest.mark.slow

CONNECTIONS = 64
USERS = 300


@pytest.fixture
def heavy_artifact(tmp_path: Path) -> Path:
    """A model whose answers are real work: 64 dimensions, 2 blocks, 20,000 items. On the
    small test model an answer cost about what a 503 does (a Zen 5 core), and the two P99s
    compared below came within noise of each other."""
    out = tmp_path / "heavy"
    config = SASRecConfig(
        embedding_size=64, num_layers=2, num_heads=2, max_len=20, epochs=1, threads=1
    )
    sequences = build_sequences(planted_interactions(USERS, items=20_000), seed=0)
    train_model(sequences, "sasrec", out, sasrec=config, progress=False)
    return out


def seed_histories(state: Path) -> None:
    """Every hammered shopper has a history, so each answer runs the model (not popularity)."""
    state.mkdir(parents=True)
    database = state / "events.sqlite3"
    initialise(database)
    writer = EventWriter(database)
    events = [
        Event(f"u{user}", f"sku-{(user * 7 + step) % 20_000}", "view", float(step))
        for user in range(USERS)
        for step in range(10)
    ]
    writer.append(events).result()
    writer.close()


def start(artifact: Path, state: Path, max_inflight: int) -> tuple[subprocess.Popen[bytes], int]:
    seed_histories(state)
    port = free_port()
    env = {
        **os.environ,
        "EDGEREC_MAX_INFLIGHT": str(max_inflight),
        "EDGEREC_MAX_BATCH": "1",  # each request costs the same: queueing shows plainly
        "EDGEREC_PROCESS_CACHE_SIZE": "1",
        "EDGEREC_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "edgerec.cli", "serve", "--artifact", str(artifact)]
    command += ["--port", str(port), "--workers", "1", "--state-dir", str(state)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}", process)
    return process, port


@pytest.fixture
def servers(tmp_path: Path, heavy_artifact: Path) -> Iterator[tuple[int, int]]:
    unlimited, port_a = start(heavy_artifact, tmp_path / "a", 100_000)
    limited, port_b = start(heavy_artifact, tmp_path / "b", 4)
    try:
        yield port_a, port_b
    finally:
        for process in (unlimited, limited):
            stop(process)


async def hammer(port: int, seconds: float) -> list[tuple[int, float, bytes]]:
    """CONNECTIONS keep-alive connections, each sending its next request at once."""
    results: list[tuple[int, float, bytes]] = []
    stop = time.perf_counter() + seconds

    async def connection(number: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        while time.perf_counter() < stop:
            sent += 1
            path = f"/v1/users/u{(number * 97 + sent) % USERS}/recommendations?k=10"
            began = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: edge\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", head.lower())
            assert length is not None
            await reader.readexactly(int(length.group(1)))
            results.append((int(head.split()[1]), time.perf_counter() - began, head.lower()))
        writer.close()

    await asyncio.gather(*(connection(n) for n in range(CONNECTIONS)))
    return results


def test_overload_is_shed_and_admitted_requests_keep_their_latency(
    servers: tuple[int, int],
) -> None:
    unlimited, limited = servers
    baseline = asyncio.run(hammer(unlimited, 3.0))
    flooded = asyncio.run(hammer(limited, 3.0))
    assert {status for status, _, _ in baseline} == {200}
    shed = [head for status, _, head in flooded if status == 503]
    admitted = [seconds for status, seconds, _ in flooded if status == 200]
    assert {status for status, _, _ in flooded} <= {200, 503}
    assert shed and admitted
    assert all(b"retry-after: 1" in head for head in shed)
    everyone = np.percentile([seconds for _, seconds, _ in baseline], 99)
    # Without shedding each request waits behind the other 63; admitted ones wait behind at
    # most 4 requests plus the cheap 503s (measured on a Zen 5 core: P99 2.8-3.3 ms against
    # 6.4-7.9 ms, three runs).
    assert np.percentile(admitted, 99) < everyone, (np.percentile(admitted, 99), everyone)
