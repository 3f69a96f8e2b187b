"""The HTTP API in-process: answers, state changes and every bad-input case."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import gzip
import json
import logging
import shutil
import sqlite3
import urllib.parse
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgerec.artifact import artifact_digest, read_manifest
from edgerec.data import SequenceData
from edgerec.errors import ArtifactError
from edgerec.serve import App, Settings, _retention, _store
from edgerec.train import train_model
from tests.serve.conftest import TOKEN

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body == {"ok": False, "status": status, "code": code, "error": body["error"]}
    assert isinstance(body["error"], str) and body["error"]


async def test_event_changes_the_next_recommendation(app: App, client: httpx.AsyncClient) -> None:
    before = (await client.get("/v1/users/alice/recommendations?k=5")).json()
    assert before["source"] == "popular" and len(before["items"]) == 5
    posted = await client.post(
        "/v1/events",
        json={
            "events": [
                {"user_id": "alice", "item_id": "sku-3", "event_type": "view", "timestamp": 1},
                {"user_id": "alice", "item_id": "sku-9", "timestamp": "2026-01-01T00:00:00Z"},
            ]
        },
    )
    assert posted.json() == {"ok": True, "accepted": 2, "unknown_items": []}
    after = (await client.get("/v1/users/alice/recommendations?k=5")).json()
    assert after["source"] == "model"
    ids = [item["item_id"] for item in after["items"]]
    assert ids != [item["item_id"] for item in before["items"]]
    assert "sku-3" not in ids and "sku-9" not in ids
    assert {"name", "category", "score", "source"} <= set(after["items"][0])
    # The engine keeps alice's history, resolved, under her newest event.
    assert app.engine is not None
    newest, known = app.engine._shoppers["alice"]
    assert newest == app.reader.recent("alice", 10)[1] and len(known) == 2


async def test_filters_exclude_and_category(client: httpx.AsyncClient) -> None:
    await client.post("/v1/events", json={"events": [{"user_id": "bob", "item_id": "sku-1"}]})
    body = (
        await client.get("/v1/users/bob/recommendations?k=10&category=even&exclude=sku-2,sku-4")
    ).json()
    ids = [item["item_id"] for item in body["items"]]
    assert ids and all(int(i.split("-")[1]) % 2 == 0 for i in ids)
    assert "sku-2" not in ids and "sku-4" not in ids


async def test_an_answer_emptied_by_filters_keeps_its_source(client: httpx.AsyncClient) -> None:
    odd = ",".join(f"sku-{i}" for i in range(1, 60, 2))
    body = (
        await client.get(f"/v1/users/newcomer/recommendations?category=odd&exclude={odd}")
    ).json()
    assert body["items"] == [] and body["source"] == "popular"


async def test_session_and_rerank(client: httpx.AsyncClient) -> None:
    session = (
        await client.post("/v1/recommendations", json={"items": ["sku-5", "sku-6"], "k": 3})
    ).json()
    assert session["source"] == "model" and len(session["items"]) == 3
    reranked = (
        await client.post(
            "/v1/recommendations",
            json={
                "items": ["sku-5"],
                "candidates": ["new-thing", "sku-7", "sku-5", "sku-8"],
                "k": 10,
            },
        )
    ).json()
    ids = [item["item_id"] for item in reranked["items"]]
    assert sorted(ids[:2]) == ["sku-7", "sku-8"] and ids[2] == "new-thing"
    assert reranked["items"][2]["source"] == "unscored"


async def test_ids_may_hold_an_encoded_slash(app: App, client: httpx.AsyncClient) -> None:
    # The server hands over the path decoded ("/v1/users/team/ann/..."): the ids come from
    # the raw one. httpx sends the query along in raw_path, granian does not: both work.
    await client.post("/v1/events", json={"events": [{"user_id": "team/ann", "item_id": "sku-4"}]})
    body = (await client.get("/v1/users/team%2Fann/recommendations?k=3")).json()
    assert body["user_id"] == "team/ann" and body["source"] == "model"
    assert await call(app, "GET", "/v1/users/team%2Fann/recommendations") == 200
    assert_error(await client.get("/v1/items/no%2Fsuch/similar"), 404, "unknown_item")
    assert_error(await client.get("/v1/users/team/ann/recommendations"), 404, "not_found")


async def test_an_unknown_category_is_named_and_without_a_catalog_so_is_that(
    settings: Settings,
) -> None:
    bare = dataclasses.replace(settings, state_dir=settings.state_dir.parent / "bare")
    app = App(bare)  # a store without the catalog: no item has a category
    app.startup()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        response = await http.get("/v1/users/u/recommendations?category=even")
    assert_error(response, 404, "unknown_category")
    assert "--catalog" in response.json()["error"]


async def test_similar_items(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/items/sku-1/similar?k=4")).json()
    assert len(body["items"]) == 4 and "sku-1" not in [i["item_id"] for i in body["items"]]
    assert_error(await client.get("/v1/items/nope/similar"), 404, "unknown_item")


async def test_events_the_store_cannot_take_get_a_503_and_are_not_half_kept(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store, "BUSY_TIMEOUT_S", 0.05)  # read as the writer first connects
    app = App(settings)
    app.startup()
    batch = {"events": [{"user_id": "gil", "item_id": "sku-1"}, {"user_id": "gil", "item_id": "x"}]}
    holder = sqlite3.connect(settings.state_dir / "events.sqlite3", isolation_level=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the store
        refused = await http.post("/v1/events", json=batch)
        holder.execute("ROLLBACK")
        assert_error(refused, 503, "store_unavailable")
        assert refused.headers["retry-after"] == "1"
        assert app.reader.recent("gil", 10)[0] == []
        assert (await http.post("/v1/events", json=batch)).json()["accepted"] == 2
    holder.close()
    assert app.reader.recent("gil", 10)[0] == ["sku-1", "x"]


async def test_unknown_items_in_events_are_accepted_and_kept(
    client: httpx.AsyncClient, app: App
) -> None:
    response = await client.post(
        "/v1/events", json={"events": [{"user_id": "carol", "item_id": "brand-new-sku"}]}
    )
    assert response.json()["unknown_items"] == ["brand-new-sku"]
    assert app.reader.recent("carol", 10)[0] == ["brand-new-sku"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/nope", None, 404, "not_found"),
        ("DELETE", "/v1/events", None, 405, "method_not_allowed"),
        ("POST", "/v1/events", b"{not json", 400, "malformed_json"),
        ("POST", "/v1/events", b"", 400, "empty_body"),
        ("POST", "/v1/events", b"[1, 2]", 422, "invalid_body"),
        ("POST", "/v1/events", b'{"events": []}', 422, "invalid_events"),
        (
            "POST",
            "/v1/events",
            b'{"events": [{"user_id": 5, "item_id": "a"}]}',
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/events",
            b'{"events": [{"user_id": "u", "item_id": "a", "timestamp": "soon"}]}',
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/events",
            json.dumps({"events": [{"user_id": "u", "item_id": "a"}] * 6}).encode(),
            422,
            "too_many_events",
        ),
        ("POST", "/v1/events", b"x" * 5000, 413, "body_too_large"),
        # A misspelt field would otherwise be dropped: here, every event's time.
        (
            "POST",
            "/v1/events",
            b'{"events": [{"user_id": "u", "item_id": "a", "timestmp": 1}]}',
            422,
            "unknown_field",
        ),
        (
            "POST",
            "/v1/events",
            b'{"events": [{"user_id": "u", "item_id": "a"}], "x": 1}',
            422,
            "unknown_field",
        ),
        # Milliseconds sent as seconds.
        (
            "POST",
            "/v1/events",
            b'{"events": [{"user_id": "u", "item_id": "a", "timestamp": 1764400000000}]}',
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/events",
            b'{"events": [{"user_id": "u", "item_id": "a", "timestamp": 1e400}]}',
            400,
            "malformed_json",
        ),
        ("GET", "/v1/users/u/recommendations?k=0", None, 422, "invalid_k"),
        ("GET", "/v1/users/u/recommendations?k=101", None, 422, "invalid_k"),
        ("GET", "/v1/users/u/recommendations?k=ten", None, 422, "invalid_k"),
        ("GET", "/v1/users/u/recommendations?category=nope", None, 404, "unknown_category"),
        # A misspelt parameter would otherwise be dropped: here, what to exclude.
        ("GET", "/v1/users/u/recommendations?exlude=sku-1", None, 422, "unknown_parameter"),
        ("GET", "/v1/items/sku-1/similar?k=2&category=a", None, 422, "unknown_parameter"),
        ("POST", "/v1/recommendations?k=2", b'{"items": ["sku-1"]}', 422, "unknown_parameter"),
        ("POST", "/v1/events?user_id=u", b'{"events": []}', 422, "unknown_parameter"),
        ("POST", "/v1/recommendations", b'{"category": "nope"}', 404, "unknown_category"),
        # Escapes that are not UTF-8 would turn into U+FFFD, two ids into one.
        ("GET", "/v1/users/%FF/recommendations", None, 400, "malformed_path"),
        ("GET", "/v1/users/u/recommendations?exclude=%FF", None, 400, "malformed_query"),
        ("POST", "/v1/recommendations", b'{"items": "sku-1"}', 422, "invalid_field"),
        ("POST", "/v1/recommendations", b'{"k": true}', 422, "invalid_k"),
        ("POST", "/v1/recommendations", b'{"k": "5"}', 422, "invalid_k"),
        ("POST", "/v1/admin/reload", None, 401, "unauthorized"),
    ],
)
async def test_bad_input_gets_a_precise_4xx(
    client: httpx.AsyncClient, method: str, path: str, body: bytes | None, status: int, code: str
) -> None:
    response = await client.request(method, path, content=body)
    assert_error(response, status, code)


async def test_gzip_bodies_are_read_within_the_size_limit(client: httpx.AsyncClient) -> None:
    batch = json.dumps({"events": [{"user_id": "zed", "item_id": "sku-1"}]}).encode()
    gzipped = {"content-encoding": "gzip"}
    taken = await client.post("/v1/events", content=gzip.compress(batch), headers=gzipped)
    assert taken.json()["accepted"] == 1
    # 5,000 bytes unpacked from far fewer: over the test settings' 4,096-byte limit.
    bomb = gzip.compress(b" " * 5000)
    assert len(bomb) < 100
    assert_error(
        await client.post("/v1/events", content=bomb, headers=gzipped), 413, "body_too_large"
    )
    cut = gzip.compress(batch)[:-6]
    assert_error(
        await client.post("/v1/events", content=cut, headers=gzipped), 400, "malformed_body"
    )
    brotli = {"content-encoding": "br"}
    refused = await client.post("/v1/recommendations", content=b"{}", headers=brotli)
    assert_error(refused, 415, "unsupported_encoding")


async def test_head_answers_as_get_without_the_body(client: httpx.AsyncClient) -> None:
    got = await client.get("/v1/users/nobody/recommendations?k=3")
    head = await client.head("/v1/users/nobody/recommendations?k=3")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert_error(await client.delete("/healthz"), 405, "method_not_allowed")
    assert (await client.delete("/healthz")).headers["allow"] == "GET, HEAD"
    refused = await client.head("/v1/events")
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"


async def test_health_readiness_version_metrics_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"ok": True}
    assert (await client.get("/readyz")).json()["ok"] is True
    version = (await client.get("/version")).json()
    assert version["manifest"]["model_type"] == "hybrid"
    await client.get("/v1/users/dave/recommendations")
    text = (await client.get("/metrics")).text
    assert (
        'edgerec_http_requests_total{method="GET",route="/v1/users/{user_id}/recommendations"'
        in text
    )
    assert "edgerec_http_request_duration_seconds_bucket" in text
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.") and "/v1/events" in spec["paths"]


async def test_admin_needs_the_token_and_never_logs_it(
    app: App, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert_error(
        await client.post("/v1/admin/cache/flush", headers={"Authorization": "Bearer wrong"}),
        401,
        "unauthorized",
    )
    await client.post("/v1/events", json={"events": [{"user_id": "fay", "item_id": "sku-2"}]})
    await client.get("/v1/users/fay/recommendations")
    assert app.engine is not None and "fay" in app.engine._shoppers
    ok = await client.post("/v1/admin/cache/flush", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.json()["ok"] is True
    assert not app.engine._shoppers  # kept histories go with the cached ones
    reloaded = await client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reloaded.status_code == 200
    assert TOKEN not in caplog.text


async def test_a_flush_reaches_every_worker_of_the_node(
    settings: Settings, app: App, client: httpx.AsyncClient
) -> None:
    other = App(settings)  # a second worker on the same store
    other.startup()
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as second:
        await client.post("/v1/events", json={"events": [{"user_id": "hana", "item_id": "sku-7"}]})
        for worker in (client, second):  # both keep her history and cache her answer
            answer = (await worker.get("/v1/users/hana/recommendations")).json()
            assert answer["source"] == "model"
        with sqlite3.connect(settings.state_dir / "events.sqlite3") as store:
            store.execute("DELETE FROM events WHERE user_id = 'hana'")  # by hand
        flushed = await client.post(
            "/v1/admin/cache/flush", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert flushed.status_code == 200, flushed.text
        await asyncio.sleep(0.01)  # a worker looks at the store at most once a millisecond
        for worker in (client, second):
            answer = (await worker.get("/v1/users/hana/recommendations")).json()
            assert answer["source"] == "popular"


async def test_retention_prunes_old_events_and_the_histories_that_held_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_retention, "CHUNK", 2)  # several chunks for three old events
    app = App(dataclasses.replace(settings, event_retention_days=1.0))
    app.startup()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        old = [{"user_id": "ivo", "item_id": f"sku-{n}"} for n in (3, 4, 5)]
        await http.post("/v1/events", json={"events": old})
        await http.post("/v1/events", json={"events": [{"user_id": "jan", "item_id": "sku-9"}]})
        assert (await http.get("/v1/users/ivo/recommendations")).json()["source"] == "model"
        with sqlite3.connect(settings.state_dir / "events.sqlite3") as store:
            store.execute("UPDATE events SET received_at = received_at - 2 * 86400 "
                          "WHERE user_id = 'ivo'")  # fmt: skip
        assert await app.prune_events() == 3
        assert await app.prune_events() == 0  # nothing older is left
        await asyncio.sleep(0.01)  # a worker looks at the store at most once a millisecond
        # Ivo's kept history went with his events: he is a new shopper again.
        assert (await http.get("/v1/users/ivo/recommendations")).json()["source"] == "popular"
        assert app.reader.recent("jan", 10)[0] == ["sku-9"]


async def test_the_background_task_prunes_at_start(settings: Settings) -> None:
    with sqlite3.connect(settings.state_dir / "events.sqlite3") as store:
        store.execute(
            "INSERT INTO events (user_id, item_id, event_type, ts, received_at)"
            " VALUES ('kim', 'sku-1', 'view', 0, 0)"
        )
    app = App(dataclasses.replace(settings, event_retention_days=30.0))
    app.startup()
    assert app.reader.recent("kim", 10)[0] == ["sku-1"]
    background = asyncio.create_task(app._background())
    for _ in range(200):  # the first probe, then the pruning task: within milliseconds
        await asyncio.sleep(0.005)
        if not app.reader.recent("kim", 10)[0]:
            break
    background.cancel()
    assert app._pruning is not None
    assert await app._pruning == 1
    assert app.reader.recent("kim", 10)[0] == []


async def test_an_admin_reload_reaches_every_worker_of_the_node(
    settings: Settings, app: App, client: httpx.AsyncClient, artifact: Path, planted: SequenceData
) -> None:
    assert settings.reload_interval_s == 0  # no worker watches the files: only the admin route
    other = App(settings)  # a second worker on the same store
    other.startup()
    assert app.engine is not None and other.engine is not None
    before = other.engine.version
    train_model(planted, "transitions", artifact, progress=False)  # a new version, in place
    reloaded = await client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    version = reloaded.json()["version"]
    assert version != before and app.engine.version == version
    await other._follow_reloads()  # what its background task runs every 0.1 s
    assert other.engine.version == version


async def test_the_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    for scheme in ("bearer", "BEARER"):
        flushed = await client.post(
            "/v1/admin/cache/flush", headers={"Authorization": f"{scheme} {TOKEN}"}
        )
        assert flushed.status_code == 200, flushed.text
    basic = await client.post("/v1/admin/cache/flush", headers={"Authorization": f"Basic {TOKEN}"})
    assert_error(basic, 401, "unauthorized")


async def test_a_flush_with_redis_down_says_so_and_still_flushes_the_worker(
    settings: Settings,
) -> None:
    app = App(dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0"))  # nobody there
    app.startup()
    app.local.set("some-key", b"{}")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        response = await http.post(
            "/v1/admin/cache/flush", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert_error(response, 503, "redis_unavailable")
    assert app.local.get("some-key") is None


async def test_corrupt_artifact_is_refused_and_old_one_keeps_serving(
    client: httpx.AsyncClient, app: App, artifact: Path
) -> None:
    version = app.engine.version if app.engine else ""
    broken = artifact / "item_emb_f16.npy"
    broken.write_bytes(broken.read_bytes()[:-8])
    response = await client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert_error(response, 409, "artifact_refused")
    assert (await client.get("/v1/users/erin/recommendations")).status_code == 200
    assert app.engine is not None and app.engine.version == version
    shutil.rmtree(artifact)
    assert (await client.get("/v1/users/erin/recommendations")).status_code == 200


async def test_pinned_digest_refuses_any_other_artifact(
    settings: Settings, artifact: Path, planted: SequenceData
) -> None:
    pinned = App(dataclasses.replace(settings, artifact_digest="f" * 64))
    with pytest.raises(ArtifactError, match="wrong artifact"):
        pinned.startup()
    app = App(
        dataclasses.replace(settings, artifact_digest=artifact_digest(read_manifest(artifact)))
    )
    app.startup()
    version = app.engine.version if app.engine else ""
    train_model(planted, "transitions", artifact, progress=False)  # valid, but not the pinned one
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        response = await http.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert_error(response, 409, "artifact_refused")
    assert app.engine is not None and app.engine.version == version


async def test_metrics_carry_the_pod_identity(settings: Settings) -> None:
    app = App(dataclasses.replace(settings, pod="edgerec-7d9f", node="edge-lyon-1"))
    app.startup()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        await http.get("/healthz")
        text = (await http.get("/metrics")).text
    samples = [
        sample for family in text_string_to_metric_families(text) for sample in family.samples
    ]
    assert samples and all(
        sample.labels.get("pod") == "edgerec-7d9f" and sample.labels.get("node") == "edge-lyon-1"
        for sample in samples
    )


async def call(app: App, method: str, path: str, body: bytes = b"") -> int:
    """One request straight through the ASGI entry (no client library's objects around it)."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": urllib.parse.unquote(route),
        "raw_path": route.encode(),
        "query_string": query.encode(),
    }
    scope["headers"] = [(b"content-length", str(len(body)).encode())]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    assert isinstance(status, int)
    return status


async def test_requests_leave_no_reference_cycles(app: App) -> None:
    # The worker collects its young objects rarely (_app._YOUNG_OBJECTS): that is only sound
    # while requests, good and bad, free everything they made by reference counting.
    events = json.dumps({"events": [{"user_id": "dora", "item_id": "sku-4"}]}).encode()
    session = json.dumps({"items": ["sku-2", "sku-5"], "candidates": ["sku-7", "x"]}).encode()
    requests = [
        ("POST", "/v1/events", events, 200),
        ("GET", "/v1/users/dora/recommendations?k=5", b"", 200),
        ("GET", "/v1/users/nobody/recommendations?category=odd", b"", 200),
        ("POST", "/v1/recommendations", session, 200),
        ("GET", "/v1/items/sku-3/similar?k=4", b"", 200),
        ("GET", "/v1/items/unknown/similar", b"", 404),
        ("GET", "/v1/users/u/recommendations?k=0", b"", 422),
        ("POST", "/v1/events", b"{not json", 400),
        ("GET", "/nope", b"", 404),
    ]
    for method, path, body, status in requests:  # warm: first-use caches fill once
        assert await call(app, method, path, body) == status
    gc.collect()
    gc.disable()
    try:
        for method, path, body, status in requests:
            assert await call(app, method, path, body) == status
        # Concurrent ones share one batch (the coalescer's futures).
        paths = [f"/v1/users/user{i}/recommendations" for i in range(8)]
        assert await asyncio.gather(*(call(app, "GET", path) for path in paths)) == [200] * 8
        assert gc.collect() == 0
    finally:
        gc.enable()
