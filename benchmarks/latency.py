"""Open-loop latency of the recommend path by offered rate, from light load to saturation.

    python benchmarks/latency.py --artifact artifacts/beauty-speed --rates 500 2000 4000 6000

One edgerec server on core 0 and the open-loop client on core 1, as in `serving.py` (same
seeded shoppers, no answer cache). Each rate is a run of its own against the same warm server,
and the list is run ``--repeat`` times in a row. Prints P50/P99/P999 per run, the load
generator's own stalls and the P99 of the requests that did not fall due during one, the
steal time on each core and how busy the server's core was, the server's own share apart (see
`_load.open_loop_latency`); asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import open_loop_latency
from serving import (
    EDGE_ENV,
    HOST,
    LOAD_CORE,
    SERVER_CORE,
    USERS,
    edgerec_command,
    seed_store,
    server,
    server_core_busy,
    server_pid,
    steal_on,
    user_path,
)

PORT = 8104


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--rates", type=float, nargs="+", default=[500, 2000, 4000, 6000])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgerec-latency-"))
    seed_store(work / "events.sqlite3", args.artifact, USERS)
    header = ("offered RPS", "achieved", "P50 ms", "P99 ms", "P999 ms", "failed")
    extra = ("client stalled ms (longest)", "steady P99 ms", "steal ms server/load core")
    extra += (f"{'server core busy':>34}",)
    print(" ".join(f"{name:>11}" for name in header) + "  " + "  ".join(extra))
    try:
        with server(edgerec_command(args.artifact, PORT, work), EDGE_ENV, PORT, "/readyz"):
            open_loop_latency(HOST, PORT, user_path, args.rates[0], 1, core=LOAD_CORE)  # warm-up
            pid = server_pid(PORT)
            for _ in range(args.repeat):
                for rate in args.rates:
                    row = open_loop_latency(
                        HOST, PORT, user_path, rate, args.seconds, core=LOAD_CORE, server_pid=pid
                    )
                    cells = (rate, row["achieved"], row["p50"], row["p99"], row["p999"])
                    stalls = (
                        f"{row['client_stalled_ms']:.1f} ({row['client_longest_stall_ms']:.1f})"
                    )
                    steal = f"{steal_on(row, SERVER_CORE)}/{steal_on(row, LOAD_CORE)}"
                    print(
                        " ".join(f"{value:>11.2f}" for value in cells)
                        + f" {row['failures']:>11.0f}  {stalls:>27}  {row['steady_p99']:>13.2f}"
                        + f"  {steal:>25}  {server_core_busy(row):>34}"
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
