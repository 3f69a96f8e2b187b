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
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import open_loop_latency
from serving import (
    HOST,
    LOAD_CORE,
    SERVER_CORE,
    server_core_busy,
    steal_on,
    user_path,
    warm_worker,
)

PORT = 8104
# A worker adds its batches to the scraped histogram once a second (metrics.TALLY).
_TALLY_FLUSH_S = 1.1


def batch_tally(port: int) -> tuple[float, float]:
    """The worker's scored requests and batches so far, once its last second is flushed."""
    time.sleep(_TALLY_FLUSH_S)
    text = httpx.get(f"http://{HOST}:{port}/metrics").text
    found = {"edgerec_batch_size_sum": 0.0, "edgerec_batch_size_count": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name] += sample.value
    return found["edgerec_batch_size_sum"], found["edgerec_batch_size_count"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--rates", type=float, nargs="+", default=[500, 2000, 4000, 6000])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    header = ("offered RPS", "achieved", "P50 ms", "P99 ms", "P999 ms", "failed")
    extra = ("client stalled ms (longest)", "steady P99 ms", "steal ms server/load core")
    extra += (f"{'server core busy':>34}", "mean batch")
    print(" ".join(f"{name:>11}" for name in header) + "  " + "  ".join(extra))
    with warm_worker(args.artifact, PORT, args.rates[0]) as pid:
        scored, batches = batch_tally(PORT)
        for _ in range(args.repeat):
            for rate in args.rates:
                row = open_loop_latency(
                    HOST, PORT, user_path, rate, args.seconds, core=LOAD_CORE, server_pid=pid
                )
                scored_before, batches_before = scored, batches
                scored, batches = batch_tally(PORT)
                batch = (scored - scored_before) / max(1.0, batches - batches_before)
                cells = (rate, row["achieved"], row["p50"], row["p99"], row["p999"])
                stalls = f"{row['client_stalled_ms']:.1f} ({row['client_longest_stall_ms']:.1f})"
                steal = f"{steal_on(row, SERVER_CORE)}/{steal_on(row, LOAD_CORE)}"
                print(
                    " ".join(f"{value:>11.2f}" for value in cells)
                    + f" {row['failures']:>11.0f}  {stalls:>27}  {row['steady_p99']:>13.2f}"
                    + f"  {steal:>25}  {server_core_busy(row):>34}  {batch:>10.1f}"
                )


if __name__ == "__main__":
    main()
