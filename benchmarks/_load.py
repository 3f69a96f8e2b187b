"""Load generation: wrk for the maximum rate, an asyncio open-loop client for latency.

The open-loop client sends request i at t0 + i/rate whatever happened before, and measures each
latency from that scheduled time, so a stalled server cannot hide its queue (no coordinated
omission).
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import subprocess
import time
from collections.abc import Callable

import numpy as np

_TIMER_SLACK_S = 0.001


def wrk_max_rps(
    url: str, script: str | None, seconds: int, core: int, connections: int = 8
) -> float:
    command = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    if script:
        command += ["-s", script]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    rate = float(match.group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    total = re.search(r"(\d+) requests in", output)
    if errors and total:
        # Goodput: a worker that sheds answers 503 fast; only 200s count as served.
        rate *= 1 - int(errors.group(1)) / int(total.group(1))
    return rate


async def _open_loop(
    host: str,
    port: int,
    path_for: Callable[[int], str],
    rate: float,
    seconds: float,
    connections: int,
) -> tuple[list[float], int]:
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, port))
    latencies: list[float] = []
    failures = 0

    async def one(index: int, scheduled: float) -> None:
        nonlocal failures
        reader, writer = await pool.get()
        try:
            request = f"GET {path_for(index)} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                failures += 1
            latencies.append(time.perf_counter() - scheduled)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed the connection: a failed request, and a new connection for
            # the pool rather than a crashed run.
            failures += 1
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
        finally:
            pool.put_nowait((reader, writer))

    tasks = []
    start = time.perf_counter() + 0.05
    total = int(rate * seconds)
    for index in range(total):
        scheduled = start + index / rate
        while (delay := scheduled - time.perf_counter()) > 0:
            # asyncio's timers fire in whole milliseconds (the epoll timeout), so a plain
            # sleep sent requests up to 1 ms late and counted that as latency. Sleep only to
            # within a millisecond, then yield to the loop until the send time.
            await asyncio.sleep(delay - _TIMER_SLACK_S if delay > 2 * _TIMER_SLACK_S else 0)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies, failures


def open_loop_latency(
    host: str,
    port: int,
    path_for: Callable[[int], str],
    rate: float,
    seconds: float = 8.0,
    connections: int = 64,
    core: int | None = None,
) -> dict[str, float]:
    """P50/P99/P999 in ms at a fixed offered rate, and the achieved rate; the client runs on
    ``core`` when given (the load generator's core, never the server's).

    The client's own garbage collector is off while it sends: its tens of thousands of tasks
    made full collections that paused the client for 10-40 ms, and every request scheduled in
    such a pause counted the pause as server latency (P99 at 80% load of 25-39 ms against
    4-8 ms with the collector off, same server, back to back).
    """
    gc.collect()
    gc.disable()
    # Unpinned, the scheduler could run the client on the server's core, and the client's own
    # CPU time then counted as server latency.
    previous = os.sched_getaffinity(0)
    if core is not None:
        os.sched_setaffinity(0, {core})
    started = time.perf_counter()
    try:
        latencies, failures = asyncio.run(
            _open_loop(host, port, path_for, rate, seconds, connections)
        )
    finally:
        os.sched_setaffinity(0, previous)
        gc.enable()
    elapsed = time.perf_counter() - started
    values = np.array(latencies) * 1e3
    return {
        "offered": rate,
        "achieved": len(values) / elapsed,
        "failures": float(failures),
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "p999": float(np.percentile(values, 99.9)),
    }
