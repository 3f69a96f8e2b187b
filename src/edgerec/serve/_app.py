"""The ASGI application: routes, caches, load shedding and hot reload around an ``Engine``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import orjson

from edgerec.artifact import load_artifact
from edgerec.errors import ArtifactError
from edgerec.serve import _metrics as metrics
from edgerec.serve._answer import MODEL, Answer
from edgerec.serve._batch import Coalescer
from edgerec.serve._cache import (
    Cache,
    CacheUnavailable,
    NullCache,
    ProcessCache,
    RedisCache,
)
from edgerec.serve._engine import Engine, Query
from edgerec.serve._history import HistoryCache
from edgerec.serve._http import (
    HTTPError,
    Receive,
    Scope,
    Send,
    header,
    parse_json_object,
    read_body,
    send_bytes,
)
from edgerec.serve._openapi import openapi_document
from edgerec.serve._retention import PRUNE_EVERY_S, prune_old_events
from edgerec.serve._settings import Settings
from edgerec.serve._store import EventWriter, HistoryReader, initialise
from edgerec.serve._validate import (
    SIMILAR_QUERY,
    USER_QUERY,
    body_k,
    id_list,
    identifier,
    known_fields,
    no_query,
    optional_text,
    parse_events,
    parse_k,
    path_segments,
    query_list,
    query_params,
)
from edgerec.serve._watch import ArtifactWatcher

logger = logging.getLogger(__name__)
Params = dict[str, str]
Reply = tuple[int, bytes]
Handler = Callable[[Scope, Receive, Params], Awaitable[Reply]]
# Above this event-loop lag the worker is behind: refuse new work at once instead of queueing.
_LAG_PROBE_S = 0.005
# The probe's period while no request arrives. A wakeup of an idle core is dear in a virtual
# machine: on a KVM guest (2026-11-28) an asyncio timer's took 68-135 us of CPU, and an idle
# worker probing every 5 ms spent 2.3% of its core doing nothing else.
_IDLE_PROBE_S = 0.1
# How often a worker looks for an admin reload another worker of the node took (in the store).
_ACTION_CHECK_S = 0.1
SESSION_FIELDS = frozenset({"items", "k", "exclude", "category", "candidates"})
_RETRY_AFTER = [(b"retry-after", b"1")]
# Distinct valid query strings of the user route remembered, parsed (then the table restarts).
_QUERY_STRINGS = 1024
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Net new container objects that trigger a young-generation collection (see `_freeze_heap`).
_YOUNG_OBJECTS = 20_000


class App:
    """One worker's service. ``startup`` loads everything; ``__call__`` is the ASGI entry."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._identity = settings.identity()
        self.engine: Engine | None = None
        self.cache: Cache = NullCache()
        self.local = ProcessCache(settings.process_cache_size)
        self._batcher: tuple[Engine, Coalescer[Query, Answer]] | None = None
        self._reloads_seen = 0  # id of the node's latest admin reload this worker followed
        self.overloaded = False
        self.inflight = 0
        self.requests = 0  # HTTP requests received, for the lag probe's pace
        self._tasks: list[asyncio.Task[None]] = []
        self._pruning: asyncio.Task[int] | None = None
        self._user_queries: dict[bytes, tuple[int, tuple[str, ...], str | None, str]] = {}
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/version"): self._version,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/openapi.json"): self._openapi,
            ("GET", "/v1/users/{user_id}/recommendations"): self._user_recommendations,
            ("POST", "/v1/recommendations"): self._session_recommendations,
            ("GET", "/v1/items/{item_id}/similar"): self._similar,
            ("POST", "/v1/events"): self._events,
            ("POST", "/v1/admin/reload"): self._admin_reload,
            ("POST", "/v1/admin/cache/flush"): self._admin_flush,
        }

    # ---- lifecycle -------------------------------------------------------------------------
    def startup(self) -> None:
        settings = self.settings
        if settings.artifact is None:
            raise ArtifactError("no artifact configured")
        db = settings.state_dir / "events.sqlite3"
        initialise(db)
        self.writer = EventWriter(db)
        self.reader = HistoryReader(db)
        self.histories = HistoryCache(
            self.reader, settings.history_len, settings.history_cache_users, on_flush=self._forget
        )
        self.watcher = ArtifactWatcher(settings.artifact)
        self._install(self._build(settings.artifact))
        self.watcher.mark_current()
        self._reloads_seen = self.reader.last_action_id("reload")
        if settings.redis_url:
            self.cache = RedisCache(
                settings.redis_url, settings.redis_timeout_ms, settings.cache_ttl_s
            )
        metrics.prime()
        metrics.publish()  # the other workers' scrapes see this one from the start

    def _build(self, directory: Path) -> Engine:
        """Verify, load and index an artifact: all the slow work, done off the event loop."""
        model = load_artifact(directory, expected_digest=self.settings.artifact_digest)
        return Engine(model, self.reader.catalog(), self.settings.history_cache_users)

    def _install(self, engine: Engine) -> None:
        """Swap the served engine: a reference assignment, so no request sees a half state."""
        model = engine.model
        previous, self.engine = self.engine, engine
        self.local.clear()
        if previous is not None:
            metrics.MODEL_INFO.labels(previous.version, previous.model.manifest["model_type"]).set(
                0
            )
        metrics.MODEL_INFO.labels(engine.version, model.manifest["model_type"]).set(1)
        created = model.manifest.get("created_at")
        self._created = (
            datetime.fromisoformat(created).timestamp() if isinstance(created, str) else time.time()
        )
        metrics.MODEL_CREATED.set(self._created)
        previous = None  # the old model must not be frozen with the new one
        _freeze_heap()

    async def reload(self) -> str:
        """Load the artifact again if it changed; keep serving the old one if it is bad."""
        # Snapshot first: if the files change again while building, the next tick sees it.
        identity = self.watcher.snapshot()
        try:
            engine = await asyncio.to_thread(self._build, self.watcher.directory)
        except ArtifactError as exc:
            metrics.RELOADS.labels("refused").inc()
            logger.error("artifact reload refused, still serving the previous model: %s", exc)
            self.watcher.mark(identity)  # don't retry the same bad files every tick
            raise
        self._install(engine)
        self.watcher.mark(identity)
        metrics.RELOADS.labels("ok").inc()
        assert self.engine is not None
        logger.info("serving artifact version %s", self.engine.version)
        return self.engine.version

    async def _background(self) -> None:
        sampler = metrics.ProcessSampler()
        last = time.monotonic()
        next_check = last + self.settings.reload_interval_s
        next_age = next_action = next_prune = last
        lag = 0.0
        pause, seen = _LAG_PROBE_S, self.requests
        while True:
            await asyncio.sleep(pause)
            now = time.monotonic()
            # Smoothed lag: one scheduler hiccup must not shed; a growing backlog must.
            lag = 0.8 * lag + 0.2 * max(0.0, now - last - pause)
            self.overloaded = lag > self.settings.shed_lag_ms / 1000.0
            last = now
            # Requests since the last probe: probe often, the lag is what sheds. None: rarely;
            # a burst after a quiet spell is measured from the next probe on, at most
            # _IDLE_PROBE_S later, and max_inflight sheds it meanwhile.
            pause = _LAG_PROBE_S if self.requests != seen else _IDLE_PROBE_S
            seen = self.requests
            if now >= next_age:  # once a second: gauges are scraped, not read per request
                next_age = now + 1.0
                metrics.MODEL_AGE.set(time.time() - self._created)
                metrics.INFLIGHT.set(self.inflight)
                sampler.sample()
                metrics.publish()
            if now >= next_action:
                next_action = now + _ACTION_CHECK_S
                await self._follow_reloads()
            if self.settings.event_retention_days and now >= next_prune:
                next_prune = now + PRUNE_EVERY_S
                # A task of its own: a large backlog takes many statements, and this loop's
                # lag probe must go on meanwhile.
                if self._pruning is None or self._pruning.done():
                    self._pruning = asyncio.create_task(self.prune_events())
            if self.settings.reload_interval_s and now >= next_check:
                next_check = now + self.settings.reload_interval_s
                if self.watcher.changed():
                    with contextlib.suppress(ArtifactError):
                        await self.reload()

    async def prune_events(self) -> int:
        """Delete the events older than the retention (`prune_old_events`); how many went."""
        return await prune_old_events(self.writer, self.settings.event_retention_days)

    async def _follow_reloads(self) -> None:
        """Reload when another worker of the node took an admin reload (a row of the store)."""
        try:
            latest = self.reader.last_action_id("reload")
        except sqlite3.Error:
            return  # busy or over its budget: the next check looks again
        if latest != self._reloads_seen:
            self._reloads_seen = latest
            with contextlib.suppress(ArtifactError):
                await self.reload()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await asyncio.to_thread(self.startup)
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self._tasks.append(asyncio.create_task(self._background()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in [*self._tasks, self._pruning]:
                    if task is not None:
                        task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---- ASGI entry ------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        method = scope["method"]
        template = "unmatched"
        status, body, extra = 500, b"", []
        self.inflight += 1
        self.requests += 1
        try:
            template, params = self._match(scope)
            handler = self._routes.get((method, template))
            if handler is None and method == "HEAD":  # GET's answer without its body
                handler = self._routes.get(("GET", template))
            if template == "unmatched":
                raise HTTPError(404, "not_found", f"no route for {scope['path']}")
            if handler is None:
                allowed = ", ".join(m for m, t in self._routes if t == template)
                if "GET" in allowed:
                    allowed += ", HEAD"
                raise HTTPError(
                    405,
                    "method_not_allowed",
                    f"use {allowed} for {template}",
                    [(b"allow", allowed.encode())],
                )
            busy = self.overloaded or self.inflight > self.settings.max_inflight
            if busy and template.startswith("/v1/"):
                metrics.SHED.inc()
                raise HTTPError(
                    503, "overloaded", "worker is overloaded, retry shortly", _RETRY_AFTER
                )
            status, body = await handler(scope, receive, params)
        except HTTPError as exc:
            status, body, extra = exc.status, exc.body(), exc.headers
        except Exception:
            logger.exception("unhandled error on %s %s", method, template)
            status, body = 500, HTTPError(500, "internal", "internal error").body()
        finally:
            self.inflight -= 1
        content_type = (
            b"text/plain; version=0.0.4"
            if template == "/metrics" and status == 200
            else b"application/json"
        )
        await send_bytes(send, status, body, content_type, extra, head=method == "HEAD")
        # Any string may arrive as a method: keep the label set (and its cache) bounded.
        label = method if method in _METHODS else "other"
        metrics.request_counter(template, label, status).inc()
        metrics.route_latency(template).observe(time.perf_counter() - started)

    @staticmethod
    def _match(scope: Scope) -> tuple[str, dict[str, str]]:
        path: str = scope["path"]
        parts = path.split("/")
        if len(parts) >= 5 and parts[1] == "v1":
            raw = scope.get("raw_path")
            # The server decodes the path before it is split: ids from the raw one instead
            # when it has escapes (or bytes the server had to replace).
            if raw and (b"%" in raw or "\ufffd" in path):
                parts = path_segments(raw)
        if len(parts) == 5 and parts[1] == "v1" and parts[4] and parts[3]:
            if parts[2] == "users" and parts[4] == "recommendations":
                return "/v1/users/{user_id}/recommendations", {"user_id": parts[3]}
            if parts[2] == "items" and parts[4] == "similar":
                return "/v1/items/{item_id}/similar", {"item_id": parts[3]}
        if path in metrics.ROUTES:
            return path, {}
        return "unmatched", {}

    # ---- handlers --------------------------------------------------------------------------
    def _ready_engine(self) -> Engine:
        if self.engine is None:
            raise HTTPError(503, "not_ready", "model not loaded yet", _RETRY_AFTER)
        return self.engine

    async def _healthz(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        return 200, b'{"ok":true}'

    async def _readyz(self, scope: Scope, receive: Receive, p: Params) -> Reply:
        # Redis never fails readiness: without it the service is slower, not wrong.
        if self.engine is None or not self.reader.ping():
            raise HTTPError(503, "not_ready", "model or event store not usable", _RETRY_AFTER)
        return 200, orjson.dumps({"ok": True, "version": self.engine.version})

    async def _version(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        engine = self._ready_engine()
        return 200, orjson.dumps(
            {"ok": True, "version": engine.version, "manifest": engine.model.manifest}
        )

    async def _metrics(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        metrics.INFLIGHT.set(self.inflight)
        return 200, metrics.exposition(self._identity)

    async def _openapi(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        return 200, orjson.dumps(openapi_document(self.settings))

    async def _user_recommendations(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        engine = self._ready_engine()
        k, exclude, category, filters = self._user_query(scope.get("query_string", b""))
        user_id = identifier(p["user_id"], "user_id")
        catalog_category(engine, category)
        try:
            history, newest = self.histories.recent(user_id)
        except sqlite3.OperationalError as exc:  # over its time budget, locked, I/O error
            logger.warning("history read failed for a recommendation: %s", exc)
            raise HTTPError(
                503, "store_unavailable", "event store did not answer, retry shortly", _RETRY_AFTER
            ) from None
        metrics.CACHE_RESULT["sqlite", bool(history)].inc()
        # The newest event id is in the key: a new click or a new model never hits an old entry.
        key = f"{engine.version}:u:{user_id}:{newest}:{filters}"
        cached = self._cached(key)
        if cached is not None:
            return 200, cached
        query = Query(history, k, exclude, category, shopper=(user_id, newest))
        ranked = await self._recommend(engine, query)
        body = self._answer(ranked, {"user_id": user_id})
        self.local.set(key, body)
        self.cache.set(key, body)
        return 200, body

    def _user_query(self, raw: bytes) -> tuple[int, tuple[str, ...], str | None, str]:
        """(k, exclude, category, their cache-key part) of a query string; valid ones are
        remembered, as most requests repeat a handful of query strings."""
        parsed = self._user_queries.get(raw)
        if parsed is None:
            query = query_params(raw)
            known_fields(query, USER_QUERY, "query", "parameter")
            k = parse_k(_last(query, "k"), self.settings.default_k, self.settings.max_k)
            exclude = tuple(query_list(query, "exclude"))
            category = optional_text(_last(query, "category"), "category")
            parsed = (k, exclude, category, f"{k}:{','.join(sorted(exclude))}:{category}")
            if len(self._user_queries) >= _QUERY_STRINGS:
                self._user_queries.clear()
            self._user_queries[raw] = parsed
        return parsed

    async def _session_recommendations(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        engine = self._ready_engine()
        no_query(scope.get("query_string", b""))
        request = parse_json_object(await read_body(scope, receive, self.settings.max_body_bytes))
        known_fields(request, SESSION_FIELDS, "body")
        items = id_list(request.get("items"), "items")
        candidates = request.get("candidates")
        query = Query(
            items,
            body_k(request.get("k"), self.settings.default_k, self.settings.max_k),
            id_list(request.get("exclude"), "exclude"),
            catalog_category(engine, optional_text(request.get("category"), "category")),
            None if candidates is None else id_list(candidates, "candidates"),
        )
        return 200, self._answer(await self._recommend(engine, query), {})

    async def _similar(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        engine = self._ready_engine()
        query = query_params(scope.get("query_string", b""))
        known_fields(query, SIMILAR_QUERY, "query", "parameter")
        k = parse_k(_last(query, "k"), self.settings.default_k, self.settings.max_k)
        ranked = engine.similar(identifier(p["item_id"], "item_id"), k)
        if ranked is None:
            raise HTTPError(404, "unknown_item", f"item {p['item_id']!r} is not in the model")
        return 200, self._answer(ranked, {"item_id": p["item_id"]})

    async def _events(self, scope: Scope, receive: Receive, p: Params) -> Reply:
        engine = self._ready_engine()
        no_query(scope.get("query_string", b""))
        request = parse_json_object(await read_body(scope, receive, self.settings.max_body_bytes))
        events = parse_events(request, self.settings.max_events_per_batch)
        try:
            written = await asyncio.wrap_future(self.writer.append(events))
        except sqlite3.Error as exc:  # locked past the busy timeout, disk full, I/O error
            logger.warning("event write failed, %d event(s) refused: %s", len(events), exc)
            raise HTTPError(
                503,
                "store_unavailable",
                "event store did not take the events (none were stored), retry shortly",
                _RETRY_AFTER,
            ) from None
        self.histories.wrote()
        metrics.EVENTS.inc(written)
        unknown = sorted({e.item_id for e in events if e.item_id not in engine.vocab})
        return 200, orjson.dumps({"ok": True, "accepted": written, "unknown_items": unknown})

    async def _admin_reload(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        self._authorise(scope)
        try:
            version = await self.reload()
        except ArtifactError as exc:
            raise HTTPError(409, "artifact_refused", str(exc)) from None
        try:
            # The node's other workers follow (`_follow_reloads`); this one has reloaded.
            recorded = await asyncio.wrap_future(self.writer.record_action("reload"))
            self._reloads_seen = max(self._reloads_seen, recorded)
        except sqlite3.Error as exc:
            logger.warning("reload not recorded for the other workers: %s", exc)
            raise HTTPError(
                503,
                "store_unavailable",
                f"this worker serves {version}; the event store did not record the reload for"
                " the others (they follow the artifact by watching it), retry shortly",
                _RETRY_AFTER,
            ) from None
        return 200, orjson.dumps({"ok": True, "version": version})

    async def _admin_flush(
        self, scope: Scope, receive: Receive, p: dict[str, str]
    ) -> tuple[int, bytes]:
        self._authorise(scope)
        try:
            # For every worker on the node: each sees the commit as it sees new events.
            await asyncio.wrap_future(self.writer.record_action("flush"))
        except sqlite3.Error as exc:
            logger.warning("cache flush not recorded: %s", exc)
            raise HTTPError(
                503,
                "store_unavailable",
                "event store did not record the flush, retry shortly",
                _RETRY_AFTER,
            ) from None
        self.histories.clear()
        self._forget()
        try:
            deleted = (
                await asyncio.to_thread(self.cache.flush)
                if isinstance(self.cache, RedisCache)
                else 0
            )
        except CacheUnavailable as exc:
            raise HTTPError(
                503,
                "redis_unavailable",
                f"the workers' caches are flushed, Redis's are not ({exc}); its entries expire"
                f" within {self.settings.cache_ttl_s} s, or retry",
                _RETRY_AFTER,
            ) from None
        return 200, orjson.dumps({"ok": True, "redis_keys_deleted": deleted})

    def _forget(self) -> None:
        """Drop what this worker derived from histories: cached answers, resolved histories."""
        self.local.clear()
        if self.engine is not None:
            self.engine.forget_shoppers()

    # ---- helpers ---------------------------------------------------------------------------
    async def _recommend(self, engine: Engine, query: Query) -> Answer:
        """Through the engine's coalescer: concurrent requests are scored as one batch."""
        if self._batcher is None or self._batcher[0] is not engine:
            # A new engine (start or reload): a fresh coalescer bound to it.
            self._batcher = (engine, Coalescer(engine.recommend_many, self.settings.max_batch))
        return await self._batcher[1].submit(query)

    def _authorise(self, scope: Scope) -> None:
        token = self.settings.admin_token
        if token is None:
            raise HTTPError(403, "admin_disabled", "admin endpoints need an admin_token setting")
        scheme, _, given = (header(scope, b"authorization") or b"").partition(b" ")
        # The scheme's name is case-insensitive (RFC 9110, 11.1); the token is compared in
        # constant time.
        right = hmac.compare_digest(given.strip(), token.reveal().encode())
        if scheme.lower() != b"bearer" or not right:
            raise HTTPError(
                401,
                "unauthorized",
                "missing or wrong bearer token",
                [(b"www-authenticate", b"Bearer")],
            )

    def _cached(self, key: str) -> bytes | None:
        body = self.local.get(key)
        metrics.CACHE_RESULT["process", body is not None].inc()
        if body is not None:
            return body
        body = self.cache.get(key)  # Redis counts its own hits, misses and errors
        if body is not None:
            self.local.set(key, body)
        return body

    def _answer(self, answer: Answer, extra: dict[str, str]) -> bytes:
        assert self.engine is not None
        if answer.source != MODEL:
            metrics.fallback_counter(answer.source).inc()
        return orjson.dumps(
            {
                "ok": True,
                **extra,
                "model_version": self.engine.version,
                "source": answer.source,
                # Rendered by the engine for the whole batch (see edgerec.serve._answer).
                "items": orjson.Fragment(answer.json),
            }
        )


def _freeze_heap() -> None:
    """Exempt the long-lived heap (modules, vocabulary, catalog) from cyclic GC passes, and
    collect the young generation only when many objects outlive their request.

    Without the freeze, every full collection walks those hundreds of thousands of objects and
    stalls the event loop for tens of milliseconds: the P99 of every request in flight.
    Reference counting still frees them when a reload drops the old model.

    The request path makes no reference cycles (tests/serve/test_api.py checks), yet a batch
    of 64 requests in flight holds thousands of young containers: at Python's default of 700,
    a collection ran every few requests and found nothing (2,070 in 20 s of load, ~2.8% of
    the worker's time, none collecting an object). At `_YOUNG_OBJECTS` it runs when that many
    outlive their requests (caches filling, or garbage cycles from elsewhere).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG_OBJECTS, *gc.get_threshold()[1:])


def catalog_category(engine: Engine, category: str | None) -> str | None:
    """``category`` when the catalog has it: an unknown one (a typo, no catalog loaded) is a
    404, as an unknown item is, not an empty list that looks like a real answer."""
    if category is None or engine.known_category(category):
        return category
    hint = "" if engine.has_categories else " (no catalog is loaded: serve with --catalog)"
    raise HTTPError(404, "unknown_category", f"category {category!r} is not in the catalog{hint}")


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def create_app(settings: Settings) -> App:
    return App(settings)


__all__ = ["App", "create_app"]
