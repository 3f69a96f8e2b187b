"""Where a worker's CPU goes per answer, thread by thread, at fixed offered rates.

    python benchmarks/threads.py --artifact artifacts/beauty-speed --rates 2000 6000

One edgerec server on core 0 and the open-loop client on core 1, as in `latency.py`. For
each rate, two runs against the same warm server: ``/healthz`` (the server stack and the
app's routing, no model, no store) and the recommend route of `serving.py`'s seeded
shoppers. Prints each thread's CPU time per answer, from the scheduler's own count
(``/proc/<pid>/task/<tid>/schedstat``): the event loop's thread (the worker's main thread,
which runs the app and the model), granian's Rust I/O thread(s) and the worker's other
threads together (granian's hand-over of each request to the loop, the metrics and SQLite
helpers). Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import open_loop_latency
from serving import HOST, LOAD_CORE, user_path, warm_worker

PORT = 8105
KINDS = ("event loop", "granian I/O", "other threads")


def thread_cpu_ns(pid: int) -> dict[str, int]:
    """CPU nanoseconds so far of each kind of thread of process ``pid`` (threads that ended
    are not counted: the worker's threads live as long as it does)."""
    out = dict.fromkeys(KINDS, 0)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ran = int((task / "schedstat").read_text().split()[0])
            name = (task / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between listing and reading
        if task.name == str(pid):
            out["event loop"] += ran
        elif name.startswith("tokio"):
            out["granian I/O"] += ran
        else:
            out["other threads"] += ran
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--rates", type=float, nargs="+", default=[2000, 6000])
    parser.add_argument("--seconds", type=int, default=6)
    args = parser.parse_args()
    routes = {"/healthz": lambda _: "/healthz", "recommend": user_path}
    columns = ("route", "offered RPS", "P50 ms", "P99 ms", *KINDS, "all threads")
    print("µs of CPU per answer by thread")
    print(f"{columns[0]:<10}" + "".join(f"{name:>15}" for name in columns[1:]))
    with warm_worker(args.artifact, PORT, args.rates[0]) as pid:
        for rate in args.rates:
            for route, path_for in routes.items():
                before = thread_cpu_ns(pid)
                row = open_loop_latency(HOST, PORT, path_for, rate, args.seconds, core=LOAD_CORE)
                after = thread_cpu_ns(pid)
                answers = max(1.0, rate * args.seconds - row["failures"])
                spent = [(after[kind] - before[kind]) / 1000 / answers for kind in KINDS]
                cells = (rate, row["p50"], row["p99"], *spent, sum(spent))
                print(f"{route:<10}" + "".join(f"{value:>15.2f}" for value in cells))


if __name__ == "__main__":
    main()
