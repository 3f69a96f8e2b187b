"""`edgerec serve`: validate settings, prepare the store (and the demo shop), start granian."""

from __future__ import annotations

import csv
import errno
import gc
import logging
import os
import shutil
import socket
import sqlite3
import tempfile
from pathlib import Path

from edgerec.errors import ConfigError, DataError
from edgerec.logs import configure_json
from edgerec.serve._metrics import METRICS_DIR_ENV
from edgerec.serve._settings import Settings
from edgerec.serve._store import EventWriter, initialise

logger = logging.getLogger(__name__)


def launch(
    settings: Settings, catalog: Path | None = None, seed_events: Path | None = None
) -> None:
    """Prepare the store (catalog, first-run events) and serve ``settings.artifact``."""
    # Start-up creates tens of thousands of objects that live as long as the process (modules
    # above all): collections while they pile up only walk them again and again (two full ones
    # took 6-13 ms each). `run_granian` freezes them and turns collection back on.
    gc.disable()
    configure_json(settings.log_level)
    if settings.batch_scheduling:
        use_batch_scheduling()
    if settings.artifact is not None:
        from edgerec.artifact import read_manifest  # with the collector off, as every import

        # Here, not in a worker that granian would start and lose: one line saying what is
        # wrong with it. The digests are verified by each worker as it loads the arrays.
        read_manifest(settings.artifact)
    database = settings.state_dir / "events.sqlite3"
    try:
        initialise(database)
    except sqlite3.DatabaseError as exc:  # not a database, locked, read-only
        raise DataError(f"the event store cannot be opened: {exc}", path=str(database)) from None
    if seed_events is not None:
        seed_demo_events(database, seed_events)
    if catalog is not None:
        load_catalog(database, catalog)
    run_granian(settings)


def ensure_port_free(host: str, port: int) -> None:
    """Refuse to start where another server listens. granian binds its socket with
    SO_REUSEPORT, so a second server on the same port would start without a word and take
    half of the first one's connections (an old version answering beside the new one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Connections of a server just stopped (TIME_WAIT) do not hold the port; listeners do.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            busy = exc.errno == errno.EADDRINUSE
            hint = " (is another server, an edgerec serve perhaps, running there?)" if busy else ""
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}"
            ) from None


def ensure_state_dir(path: Path) -> None:
    """Create the state directory, or say why it cannot be (before a demo is built in it)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"setting state_dir: cannot create {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"setting state_dir: {path} is not writable")


def use_batch_scheduling() -> bool:
    """Put this process under SCHED_BATCH before granian starts: the worker processes it forks
    and every thread they start inherit the policy.

    A worker is two threads on one core: granian's I/O thread and the Python thread. Under the
    default policy each of the I/O thread's wakeups (a request in, a response out) preempts
    the Python thread in the middle of its work; under SCHED_BATCH a wakeup waits for the
    running thread's turn to end (or for it to block), so each switch carries more requests.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError) as exc:  # not Linux, or refused (a seccomp profile)
        logger.warning("batch scheduling unavailable, keeping the default policy: %s", exc)
        return False
    return True


def load_catalog(database: Path, path: Path) -> int:
    """Upsert item_id,name,category rows into the store; names the line of a bad row."""
    try:
        rows = _catalog_rows(path)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not UTF-8 text ({exc.reason}); save it as UTF-8", path=str(path)
        ) from None
    except OSError as exc:  # missing, unreadable, a directory
        raise DataError(f"cannot read the catalog: {exc.strerror or exc}", path=str(path)) from None
    writer = EventWriter(database)
    try:
        writer.upsert_items(rows)
    finally:
        writer.close()
    return len(rows)


def _catalog_rows(path: Path) -> list[tuple[str, str, str]]:
    from edgerec.data._readers import TEXT_ENCODING  # the interaction files' (a BOM skipped)

    rows: list[tuple[str, str, str]] = []
    with path.open(newline="", encoding=TEXT_ENCODING) as handle:
        reader = csv.DictReader(handle)
        missing = {"item_id", "name", "category"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(
                f"missing column(s) {', '.join(sorted(missing))}", path=str(path), line=1
            )
        for row in reader:
            if not row["item_id"] or row["name"] is None or row["category"] is None:
                raise DataError(
                    "empty item_id, name or category", path=str(path), line=reader.line_num
                )
            rows.append((row["item_id"], row["name"], row["category"]))
    return rows


def seed_demo_events(database: Path, events: Path) -> None:
    """Give the demo shoppers their generated history, once (when the store has no events)."""
    with sqlite3.connect(database) as connection:
        if connection.execute("SELECT 1 FROM events LIMIT 1").fetchone():
            return
    from edgerec.data import read_interactions
    from edgerec.serve._store import Event

    table = read_interactions(events)
    rows = [
        Event(str(u), str(i), str(e) or "view", float(t))
        for u, i, e, t in zip(
            table.user_ids, table.item_ids, table.event_types, table.timestamps, strict=True
        )
    ]
    writer = EventWriter(database)
    try:
        writer.append(rows).result()
    finally:
        writer.close()


def run_granian(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    # A fresh metrics directory per start, private to this server: a scrape sums exactly its
    # own workers' files, even when several pods share one state directory.
    metrics_dir = Path(tempfile.mkdtemp(prefix="edgerec-metrics-"))
    os.environ.update(settings.to_env())
    os.environ[METRICS_DIR_ENV] = str(metrics_dir)
    _preload()
    logger.info(
        "serving %s on http://%s:%d with %d worker(s)",
        settings.artifact,
        settings.host,
        settings.port,
        settings.workers,
    )
    try:
        Granian(
            "edgerec.serve._asgi:app_from_env",
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=settings.workers,
            factory=True,
            log_level=LogLevels(settings.log_level.lower()),
        ).serve()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _preload() -> None:
    """Import what every worker needs before granian forks them, then freeze it.

    Workers inherit the modules instead of importing them each, and the frozen heap is left
    out of every later collection (a worker's own collection at start-up walks only what it
    built since).
    """
    # The worker's application brings numpy, the engine, the artifact loader, the compiled
    # kernels and the metrics (values in memory: nothing a worker would share by mistake).
    import edgerec.serve._asgi  # noqa: F401

    gc.freeze()
    gc.enable()
