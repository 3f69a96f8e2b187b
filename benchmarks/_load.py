"""Load generation: wrk for the maximum rate, an open-loop client (C) for latency.

The open-loop client sends request i at t0 + i/rate whatever happened before, and measures each
latency from that scheduled time, so a stalled server cannot hide its queue (no coordinated
omission).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


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


def _cpu_ticks() -> dict[int, list[int]]:
    """Each CPU's /proc/stat counters (user nice system idle iowait irq softirq steal ...), in
    clock ticks; empty where there is no /proc/stat."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return {}
    ticks = {}
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and len(values) > 7:
            ticks[int(name[3:])] = [int(value) for value in values]
    return ticks


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def steal_ms(ticks: dict[int, list[int]] | None = None) -> dict[int, float]:
    """Each CPU's steal time so far, in ms (Linux /proc/stat; empty elsewhere): time its
    virtual CPU was ready but the host ran something else. 10 ms resolution. From ``ticks``
    (a `_cpu_ticks` reading) when given."""
    ticks = _cpu_ticks() if ticks is None else ticks
    return {cpu: values[7] * _TICK_MS for cpu, values in ticks.items()}


def idle_ms(ticks: dict[int, list[int]] | None = None) -> dict[int, float]:
    """Each CPU's idle time so far (idle + waiting for I/O), in ms. Busy time is the rest of
    the wall time, less steal: a tickless kernel times its idle periods from their own start
    and end, where the busy counters are sampled at timer ticks, which a core that keeps waking
    and sleeping dodges or hits (at 1,000 RPS they summed to 1% busy where idle time said 30%
    and the server's own clock 28%)."""
    ticks = _cpu_ticks() if ticks is None else ticks
    return {cpu: (values[3] + values[4]) * _TICK_MS for cpu, values in ticks.items()}


def process_cpu_ms(pid: int) -> float | None:
    """CPU time so far of process ``pid``, all its threads, in ms, from the scheduler's own
    clock (the CPU-time clock id Linux gives every process); None when it is gone or the OS
    has no such clock."""
    try:
        return 1000 * time.clock_gettime((~pid << 3) | 2)  # CPUCLOCK_SCHED of the process
    except OSError:
        return None


def _client() -> Path:
    """The open-loop client, compiled once per source version into the temp directory."""
    source = Path(__file__).with_name("_openloop.c")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    binary = Path(tempfile.gettempdir()) / f"edgerec-openloop-{digest}"
    if not binary.exists():
        if shutil.which("gcc") is None:
            raise RuntimeError("the open-loop client needs gcc (apt-get install gcc)")
        partial = binary.with_suffix(".partial")
        subprocess.run(["gcc", "-O2", "-o", str(partial), str(source)], check=True)
        partial.replace(binary)
    return binary


def open_loop_latency(
    host: str,
    port: int,
    path_for: Callable[[int], str],
    rate: float,
    seconds: float = 8.0,
    connections: int = 64,
    core: int | None = None,
    server_pid: int | None = None,
) -> dict[str, float]:
    """P50/P99/P999 in ms of the 200 answers at a fixed offered rate, the achieved rate, and
    the failures (other statuses, closed connections, no answer within 5 s of the last send);
    the client runs on ``core`` when given (the load generator's core, never the server's).

    Also the client's own stalls (ms in all, the longest) and ``steady_p99``: the P99 of the
    answers whose request did not fall due while the client was stalled (their share in
    ``steady_share``). On a virtual machine the load core's virtual CPU is sometimes not run for
    tens of ms; the requests due meanwhile go out late, together, and their latency counts from
    when they were due: a P99 the server did not cause (seen on a Xeon VM, 2026-11-27: the
    server's core idle through such gaps, no request reaching it). The server's core is
    stolen the same way (one 3-user batch took 102 ms there, with no profiler sample in 100 of
    them): each CPU's steal time during the run is in ``steal_ms_cpu<N>``.

    How busy the machine was: ``busy_share_cpu<N>``, each CPU's share of the run's wall time
    spent running anything, and with ``server_pid``, ``server_share``, that process's own
    share (one core's worth is 1.0), and ``server_us_per_answer``, its CPU time per answer.
    On the server's core, busy minus the server's share is other tasks' time there (kernel
    threads, other services).

    The client is C (`_openloop.c`): the asyncio client this replaced had a P99 floor of
    5-8 ms against a hello-world server at 2,000-8,000 RPS (its own scheduling), where the C
    client measures 0.5-2.7 ms in the same setting, so it hid the server's P99 under its own.
    """
    total = int(rate * seconds)
    with tempfile.NamedTemporaryFile("w", suffix=".paths") as paths:
        # One cycle of distinct paths is enough: the client uses them in turn.
        paths.write("\n".join(path_for(i) for i in range(min(total, 100_000))) + "\n")
        paths.flush()
        command = [str(_client()), host, str(port), str(rate), str(seconds), str(connections)]
        if core is not None:
            # Unpinned, the scheduler could run the client on the server's core, and the
            # client's own CPU time then counted as server latency.
            command = ["taskset", "-c", str(core), *command]
        ticks_before = _cpu_ticks()  # one reading of /proc/stat: steal and idle alike
        server_before = None if server_pid is None else process_cpu_ms(server_pid)
        started = time.monotonic()
        output = subprocess.run(
            [*command, paths.name], capture_output=True, text=True, check=True
        ).stdout
        wall_ms = 1000 * (time.monotonic() - started)
        ticks_after = _cpu_ticks()
        server_after = None if server_pid is None else process_cpu_ms(server_pid)
    before, after = steal_ms(ticks_before), steal_ms(ticks_after)
    idle_before, idle_after = idle_ms(ticks_before), idle_ms(ticks_after)
    fields = [float(v) for v in output.split()]
    _, _, failed, achieved, p50, p99, p999, _, stalled, longest, steady_p99, steady = fields
    return {
        "offered": rate,
        "achieved": achieved,
        "failures": failed,
        "p50": p50,
        "p99": p99,
        "p999": p999,
        "client_stalled_ms": stalled,
        "client_longest_stall_ms": longest,
        "steady_p99": steady_p99,
        "steady_share": steady / max(1.0, fields[1]),
        **{f"steal_ms_cpu{cpu}": after[cpu] - before.get(cpu, 0.0) for cpu in after},
        **{
            f"busy_share_cpu{cpu}": 1
            - (idle_after[cpu] - idle_before.get(cpu, 0.0) + after[cpu] - before.get(cpu, 0.0))
            / wall_ms
            for cpu in idle_after
        },
        **(
            {
                "server_share": (server_after - server_before) / wall_ms,
                "server_us_per_answer": 1000 * (server_after - server_before) / max(1.0, fields[1]),
            }
            if server_before is not None and server_after is not None
            else {}
        ),
    }
