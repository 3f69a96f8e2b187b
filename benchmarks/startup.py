"""Start-up: process start -> first 200 OK of /readyz, and the artifact's verified load alone.

    python benchmarks/startup.py --artifact artifacts/generated-1m --starts 9

The server is `edgerec serve` with one worker on core 0, as in `serving.py`, started ``--starts``
times, each with a fresh state directory; this process polls from core 1. The load is
`load_artifact` (every digest checked, the arrays mapped) in this process, as often. A single
start on this shared machine varies by tens of milliseconds, so the table gives the median and
the range. Prints one table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from edgerec.artifact import load_artifact
from serving import EDGE_ENV, LOAD_CORE, SERVER_CORE, compile_package, edgerec_command, server

PORT = 8105


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--starts", type=int, default=9)
    args = parser.parse_args()
    if args.starts < 1:
        parser.error("--starts must be at least 1")
    os.sched_setaffinity(0, {LOAD_CORE})
    compile_package()
    starts, loads = [], []
    with tempfile.TemporaryDirectory(prefix="edgerec-startup-") as work:
        for run in range(args.starts):
            state = Path(work) / str(run)
            with server(
                edgerec_command(args.artifact, PORT, state), EDGE_ENV, PORT, "/readyz"
            ) as seconds:
                starts.append(seconds)
    for _ in range(args.starts):
        began = time.perf_counter()
        model = load_artifact(args.artifact)
        loads.append(time.perf_counter() - began)
    items = model.manifest["num_items"]
    print(f"\ncatalog: {items} items; {args.starts} starts, server on core {SERVER_CORE}")
    print(f"{'':34} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, values in (("start -> first 200 OK", starts), ("artifact load (verified)", loads)):
        print(f"{name:34} {statistics.median(values):9.3f} {min(values):7.3f} {max(values):7.3f}")


if __name__ == "__main__":
    main()
