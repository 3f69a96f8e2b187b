"""The ASGI app's own cost per request, in process, by how many requests arrive together.

    taskset -c 0 python benchmarks/app.py --artifact artifacts/beauty-speed

No HTTP server and no sockets: each round starts ``batch`` requests of the recommend route at
once on one uvloop event loop (`serving.py`'s seeded shoppers, in its order, no answer cache)
and awaits them all, so the app's coalescer scores them as one batch, as a worker does with
requests that arrived together. Three apps: `serving.py`'s hello world (`_hello.py`: what the
driver itself costs), edgerec's app with the engine's answers replaced by a canned one (the
app's routing, history cache, coalescer and JSON without the model), and edgerec's app. Prints
the median of ``--rounds`` runs of microseconds per request. Asserts nothing.

The difference between the batch sizes is what a batch costs whatever its size: the item
table streamed once per product, each compiled call's set-up, the per-batch Python. Under
open-loop load a worker's batches are as large as the requests that arrived while it scored
the last one, so this is what its CPU per answer does between light load and its maximum.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as a serving worker gets

import edgerec  # noqa: E402, F401  (before numpy: it picks the server's OpenBLAS kernels)

# isort: split
import asyncio  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable, MutableMapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import uvloop  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hello import app as hello  # noqa: E402
from edgerec.serve._answer import Answer  # noqa: E402
from edgerec.serve._app import App  # noqa: E402
from edgerec.serve._engine import Query  # noqa: E402
from edgerec.serve._metrics import METRICS_DIR_ENV  # noqa: E402
from edgerec.serve._settings import load_settings  # noqa: E402
from serving import EDGE_ENV, USERS, seed_store, user_path  # noqa: E402

Message = MutableMapping[str, Any]
Asgi = Callable[
    [dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


async def _request_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: Message) -> None:
    return None


async def requests_per_batch(app: Asgi, batch: int, total: int) -> float:
    """Microseconds per request over ``total`` requests started ``batch`` at a time."""
    sent = 0
    started = time.perf_counter()
    while sent < total:
        calls = []
        for _ in range(batch):
            path, _, query = user_path(sent).partition("?")
            scope = {
                "type": "http",
                "method": "GET",
                "path": path,
                "query_string": query.encode(),
                "headers": [],
            }
            calls.append(app(scope, _request_body, _discard))
            sent += 1
        await asyncio.gather(*calls)
    return (time.perf_counter() - started) / sent * 1e6


def edgerec_app(canned: bool) -> App:
    """A started app over the environment's settings; with ``canned``, its engine answers
    every query with one answer computed at start."""
    app = App(load_settings())
    app.startup()
    engine = app.engine
    assert engine is not None
    if canned:
        answer = engine.recommend_many([Query(["any"], 10)])[0]

        def recommend_many(queries: Sequence[Query]) -> list[Answer]:
            return [answer] * len(queries)

        setattr(engine, "recommend_many", recommend_many)  # noqa: B010 (a method replaced)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64])
    parser.add_argument("--requests", type=int, default=3200, help="per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if min(args.batches) < 1 or args.requests < 1 or args.rounds < 1:
        parser.error("--batches, --requests and --rounds must be >= 1")
    work = Path(tempfile.mkdtemp(prefix="edgerec-app-"))
    try:
        seed_store(work / "events.sqlite3", args.artifact, USERS)
        os.environ.update(EDGE_ENV)
        os.environ.update(EDGEREC_ARTIFACT=str(args.artifact), EDGEREC_STATE_DIR=str(work))
        os.environ[METRICS_DIR_ENV] = str(work / "metrics")
        (work / "metrics").mkdir()
        apps: list[tuple[str, Asgi]] = [
            ("hello world (_hello.py)", hello),
            ("edgerec app, canned answers", edgerec_app(canned=True)),
            ("edgerec app", edgerec_app(canned=False)),
        ]
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        print(f"µs per request, median of {args.rounds} runs of {args.requests} requests")
        print(f"{'requests at once':<30}" + "".join(f"{batch:>9}" for batch in args.batches))
        for name, app in apps:
            loop.run_until_complete(requests_per_batch(app, 64, args.requests))  # warm up
            cells = []
            for batch in args.batches:
                runs = [
                    loop.run_until_complete(requests_per_batch(app, batch, args.requests))
                    for _ in range(args.rounds)
                ]
                cells.append(statistics.median(runs))
            print(f"{name:<30}" + "".join(f"{cell:>9.1f}" for cell in cells))
        loop.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
