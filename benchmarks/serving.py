"""Serving benchmark: edgerec vs the server's hello-world vs a FastAPI + PyTorch reference.

    python benchmarks/serving.py --artifact artifacts/Beauty-hybrid

One run, one machine: every server gets core 0 (taskset), the load generators core 1. Reports
each server's maximum rate (wrk, closed loop; the best of 16, 32 and 64 connections, each a run
of its own: micro-batching turns concurrent requests into throughput, so the maximum of a
batching server is found by offering it enough of them, and every server gets the same sweep),
open-loop latency at 50% and 80% of edgerec's maximum, then process start -> first 200 OK.
Hello world runs under SCHED_BATCH, as `edgerec serve` does by default (`batch_scheduling`), and
once more under the default policy for the record.
Needs wrk (apt-get install wrk), gcc (the open-loop client is C: `_openloop.c`) and the `train`
extra plus fastapi/uvicorn for the reference. Every shopper has a 10-event history;
`--history 1-50` gives them 1 to 50 events instead (the serving cap), as real shoppers vary.
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import edgerec
from _load import open_loop_latency, process_cpu_ms, wrk_max_rps
from edgerec.artifact import load_artifact
from edgerec.serve._store import Event, EventWriter, initialise

HOST = "127.0.0.1"
USERS = 5000
SERVER_CORE, LOAD_CORE = 0, 1
# The recommend path's row in the report (benchmarks/suite.py reads its maximum there).
EDGE_ROW = "edgerec recommend (no answer cache)"
# Each server keeps its best of these: hello world nearly doubles from 16 to 64 connections,
# and a batching server needs concurrent requests to batch.
CONNECTIONS = [16, 32, 64]


def seed_store(
    database: Path, artifact: Path, users: int, lengths: tuple[int, int] = (10, 10)
) -> None:
    """Give ``users`` shoppers a history over the artifact's catalog, of ``lengths[0]`` to
    ``lengths[1]`` events (uniformly; 10 each by default)."""
    import numpy as np

    model = load_artifact(artifact)
    rng = np.random.default_rng(0)
    initialise(database)
    ids = model.vocab.ids
    low, high = lengths
    events = [
        Event(f"u{user}", ids[int(i)], "view", float(step))
        for user in range(users)
        for step, i in enumerate(
            rng.integers(0, len(ids), low if low == high else int(rng.integers(low, high + 1)))
        )
    ]
    writer = EventWriter(database)
    writer.append(events).result()
    writer.close()


def history_lengths(text: str) -> tuple[int, int]:
    """N as (N, N), A-B as (A, B): the range of events per shopper; argparse reports errors."""
    low, _, high = text.partition("-")
    try:
        lengths = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or A-B, got {text!r}") from None
    if not 1 <= lengths[0] <= lengths[1]:
        raise argparse.ArgumentTypeError(f"expected 1 <= A <= B, got {text!r}")
    return lengths


def compile_package() -> None:
    """Byte-compile edgerec, as the image does (deploy/Dockerfile). An editable install run with
    PYTHONDONTWRITEBYTECODE=1 has no .pyc files of its own modules: compiling them from source
    cost 50-70 ms of every start here."""
    compileall.compile_dir(Path(edgerec.__file__).parent, quiet=1)


def lua_script(directory: Path, users: int) -> str:
    path = directory / "users.lua"
    path.write_text(
        "counter = 0\nrequest = function()\n  counter = counter + 1\n"
        f"  local u = (counter * 7919) % {users}\n"
        '  return wrk.format("GET", "/v1/users/u" .. u .. "/recommendations?k=10")\nend\n'
    )
    return str(path)


# No answer cache: every request runs the full path (history read, model, JSON).
EDGE_ENV = {"EDGEREC_PROCESS_CACHE_SIZE": "1", "EDGEREC_LOG_LEVEL": "WARNING"}


def edgerec_command(artifact: Path, port: int, state: Path) -> list[str]:
    """`edgerec serve` with one worker on ``port``, its event store in ``state``."""
    serve = [sys.executable, "-m", "edgerec.cli", "serve", "--artifact", str(artifact)]
    return [*serve, "--port", str(port), "--state-dir", str(state)]


def user_path(index: int) -> str:
    """The i-th request of a load: the users of `seed_store` in a fixed scrambled order."""
    return f"/v1/users/u{(index * 7919) % USERS}/recommendations?k=10"


def batch_policy() -> None:
    """SCHED_BATCH for a spawned server, the policy `edgerec serve` sets for itself (the
    `batch_scheduling` setting): hello world is measured under the same one."""
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


@contextmanager
def server(
    command: list[str], env: dict[str, str], port: int, ready: str, batch: bool = False
) -> Iterator[float]:
    """Start ``command`` on the server core (under SCHED_BATCH if ``batch``); yield seconds
    from spawn to the first 200 OK.

    Polls through one client made before the spawn: a fresh `httpx.get` builds its TLS context
    each time (~27 ms here), so the first 200 was seen up to that much late."""
    client = httpx.Client(timeout=1)
    started = time.perf_counter()
    process = subprocess.Popen(
        ["taskset", "-c", str(SERVER_CORE), *command],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=batch_policy if batch else None,
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}")
            try:
                if client.get(f"http://{HOST}:{port}{ready}").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.002)
        yield time.perf_counter() - started
    finally:
        # SIGTERM, as Kubernetes stops a pod: a shell running this in the background starts
        # its children with SIGINT ignored.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        client.close()


@contextmanager
def warm_worker(artifact: Path, port: int, warm_rate: float) -> Iterator[int]:
    """One edgerec worker on ``port`` over `seed_store`'s shoppers (no answer cache), warmed by
    a second of open-loop load at ``warm_rate``; yields the worker's pid. For the benchmarks
    that run several fixed rates against one warm server."""
    work = Path(tempfile.mkdtemp(prefix="edgerec-worker-"))
    try:
        seed_store(work / "events.sqlite3", artifact, USERS)
        with server(edgerec_command(artifact, port, work), EDGE_ENV, port, "/readyz"):
            open_loop_latency(HOST, port, user_path, warm_rate, 1, core=LOAD_CORE)
            pid = server_pid(port)
            if pid is None:
                raise RuntimeError(f"no worker process found for port {port}")
            yield pid
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _listening(port: int) -> list[tuple[int, int]]:
    """(pid, RSS in KB) of the processes started with ``--port port`` (a server's supervisor and
    workers fork with the same arguments). By port: another server on the machine (another
    run's, a developer's) must not count."""
    output = subprocess.run(["ps", "-eo", "pid,rss,args"], capture_output=True, text=True).stdout
    found = []
    for line in output.splitlines()[1:]:
        if f"--port {port}" in line:
            pid, rss, _ = line.split(maxsplit=2)
            found.append((int(pid), int(rss)))
    return found


def worker_rss_mb(port: int) -> float:
    """Largest RSS among the processes of ``port``'s server (the worker)."""
    return max((rss for _, rss in _listening(port)), default=0) / 1024


def server_pid(port: int) -> int | None:
    """The process of ``port``'s server that holds the model: its worker (the largest RSS)."""
    found = _listening(port)
    return max(found, key=lambda entry: entry[1])[0] if found else None


def measure(
    name: str,
    url: str,
    script: str | None,
    seconds: int,
    sweep: list[int],
    port: int | None = None,
) -> dict[str, object]:
    """Maximum rate over ``sweep`` (wrk connection counts, each its own run); with ``port``,
    also the server's CPU time per answer in the best run (``cpu_per_answer``, µs)."""
    pid = None if port is None else server_pid(port)
    by_connections, cpu_per_answer = {}, {}
    for connections in sweep:
        before = None if pid is None else process_cpu_ms(pid)
        by_connections[connections] = wrk_max_rps(url, script, seconds, LOAD_CORE, connections)
        after = None if pid is None else process_cpu_ms(pid)
        if before is not None and after is not None and by_connections[connections] > 0:
            answers = by_connections[connections] * seconds
            cpu_per_answer[connections] = 1000 * (after - before) / answers
    best = max(by_connections, key=by_connections.__getitem__)
    row: dict[str, object] = {
        "name": name,
        "rps": by_connections[best],
        "connections": best,
        "sweep": by_connections,
    }
    if best in cpu_per_answer:
        row["cpu_per_answer"] = cpu_per_answer[best]
    return row


def add_latencies(row: dict[str, object], port: int, rates: list[float], seconds: int) -> None:
    """Open-loop latency of the user route on ``port`` at 50% and 80% of edgerec's maximum."""
    pid = server_pid(port)
    for label, rate in zip(("50%", "80%"), rates, strict=True):
        row[label] = open_loop_latency(
            HOST, port, user_path, rate, seconds, core=LOAD_CORE, server_pid=pid
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--history",
        type=history_lengths,
        default=(10, 10),
        help="events per shopper: N, or A-B for uniformly A to B (default 10)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=CONNECTIONS,
        help="wrk connection counts; each server's maximum is its best over these",
    )
    args = parser.parse_args()
    # The readiness polls and the bookkeeping between runs stay off the server's core.
    os.sched_setaffinity(0, {LOAD_CORE})
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install wrk")
    compile_package()
    work = Path(tempfile.mkdtemp(prefix="edgerec-bench-"))
    database = work / "events.sqlite3"
    seed_store(database, args.artifact, USERS, args.history)
    script = lua_script(work, USERS)
    rows = []
    python = sys.executable

    hello_command = [python, "-m", "granian", "--interface", "asgi", "--port", "8101"]
    hello_command += ["--log-level", "warning", "benchmarks._hello:app"]
    with server(hello_command, {}, 8101, "/", batch=True):
        rows.append(
            measure(
                "hello world (granian, raw ASGI)",
                f"http://{HOST}:8101/",
                None,
                args.seconds,
                args.connections,
            )
        )
    with server(edgerec_command(args.artifact, 8102, work), EDGE_ENV, 8102, "/readyz") as startup:
        base = f"http://{HOST}:8102/v1/users/u1/recommendations?k=10"
        edge = measure(
            EDGE_ROW,
            base,
            script,
            args.seconds,
            args.connections,
            port=8102,
        )
        rates = [0.5 * float(edge["rps"]), 0.8 * float(edge["rps"])]  # type: ignore[arg-type]
        add_latencies(edge, 8102, rates, args.seconds)
        edge["startup"] = startup
        edge["rss"] = worker_rss_mb(8102)
        rows.append(edge)
    if not args.skip_reference:
        reference_env = {
            "EDGEREC_ARTIFACT": str(args.artifact),
            "EDGEREC_DB": str(database),
            "OMP_NUM_THREADS": "1",
        }
        with server(
            [
                python,
                "-m",
                "uvicorn",
                "benchmarks._reference_fastapi:app",
                "--port",
                "8103",
                "--log-level",
                "warning",
            ],
            reference_env,
            8103,
            "/v1/users/u1/recommendations",
        ) as startup:
            ref = measure(
                "FastAPI + PyTorch eager (reference)",
                f"http://{HOST}:8103/v1/users/u1/recommendations?k=10",
                script,
                args.seconds,
                args.connections,
            )
            add_latencies(ref, 8103, rates, args.seconds)
            ref["startup"] = startup
            rows.append(ref)
    # For the record: the same hello world under the default policy (no ratio is taken to it).
    with server(hello_command, {}, 8101, "/"):
        url = f"http://{HOST}:8101/"
        name = "hello world, default scheduling"
        rows.append(measure(name, url, None, args.seconds, args.connections))
    report(rows, load_artifact(args.artifact).manifest["num_items"])
    shutil.rmtree(work, ignore_errors=True)


def steal_on(stats: dict[str, float], core: int) -> str:
    """A latency run's steal time on ``core`` in ms, or "?" where the OS does not report it."""
    value = stats.get(f"steal_ms_cpu{core}")
    return "?" if value is None else f"{value:.0f}"


def server_core_busy(stats: dict[str, float]) -> str:
    """How busy the server's core was in a latency run: "B% (server S%, U us/answer)", S being
    the server process's own share and U its CPU time per answer, B - S what else ran there;
    "?" where the OS does not report it."""
    busy = stats.get(f"busy_share_cpu{SERVER_CORE}")
    if busy is None:
        return "?"
    own, per_answer = stats.get("server_share"), stats.get("server_us_per_answer")
    if own is None or per_answer is None:
        return f"{100 * busy:.0f}%"
    return f"{100 * busy:.0f}% (server {100 * own:.0f}%, {per_answer:.0f} us/answer)"


def report(rows: list[dict[str, object]], items: int) -> None:
    hello = float(rows[0]["rps"])  # type: ignore[arg-type]
    edge = float(rows[1]["rps"])  # type: ignore[arg-type]
    print(f"\ncatalog: {items} items; server on 1 core, load on the other")
    print(
        f"{'service':<40} {'max RPS':>9} {'conns':>5} {'vs hello':>9} {'vs edgerec':>10}  "
        f"{'P50/P99/P999 ms @50%':>22}  {'@80%':>22} {'start s':>8} {'RSS MB':>7}  "
        "RPS by connections"
    )
    for row in rows:
        rps = float(row["rps"])  # type: ignore[arg-type]
        cells = []
        for label in ("50%", "80%"):
            stats = row.get(label)
            cells.append(
                "—"
                if not isinstance(stats, dict)
                else f"{stats['p50']:.2f}/{stats['p99']:.2f}/{stats['p999']:.2f}"
                f"{'' if not stats['failures'] else ' ERR'}"
            )
        startup = row.get("startup")
        rss = row.get("rss")
        sweep = row["sweep"]
        assert isinstance(sweep, dict)
        print(
            f"{row['name']:<40} {rps:>9.0f} {row['connections']:>5} {rps / hello:>9.2f} "
            f"{edge / rps:>10.1f}  {cells[0]:>22}  {cells[1]:>22} "
            f"{'—' if startup is None else f'{startup:.2f}':>8} "
            f"{'—' if rss is None else f'{rss:.0f}':>7}  "
            + " ".join(f"{c}:{v:.0f}" for c, v in sweep.items())
        )
    print("\nlatency runs: the load generator's own stalls, the P99 of the requests not due")
    print("during one, the host's steal time on each core, and how busy the server's core was")
    print("(see _load.open_loop_latency); and the server's CPU per answer at its maximum")
    for row in rows:
        per_answer, rps = row.get("cpu_per_answer"), row["rps"]
        if isinstance(per_answer, float) and isinstance(rps, float):
            print(
                f"  {row['name']} at its maximum ({rps:.0f} RPS, closed loop): server "
                f"{per_answer:.0f} us of CPU per answer"
            )
        for label in ("50%", "80%"):
            stats = row.get(label)
            if isinstance(stats, dict):
                print(
                    f"  {row['name']} @{label}: stalled {stats['client_stalled_ms']:.1f} ms "
                    f"(longest {stats['client_longest_stall_ms']:.1f}), P99 "
                    f"{stats['p99']:.2f} ms, steady P99 {stats['steady_p99']:.2f} ms "
                    f"({100 * stats['steady_share']:.1f}% of answers), steal server/load core "
                    f"{steal_on(stats, SERVER_CORE)}/{steal_on(stats, LOAD_CORE)} ms, "
                    f"server core busy {server_core_busy(stats)}"
                )


if __name__ == "__main__":
    main()
