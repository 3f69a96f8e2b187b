from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edgerec.serve import App, Secret, Settings
from edgerec.serve._launch import load_catalog
from edgerec.serve._store import initialise

TOKEN = "test-token-do-not-log"


@pytest.fixture
def settings(tmp_path: Path, artifact: Path) -> Settings:
    state = tmp_path / "state"
    initialise(state / "events.sqlite3")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "item_id,name,category\n"
        + "".join(f"sku-{i},Item {i},{'even' if i % 2 == 0 else 'odd'}\n" for i in range(60))
    )
    load_catalog(state / "events.sqlite3", catalog)
    return Settings(
        artifact=artifact,
        state_dir=state,
        admin_token=Secret(TOKEN),
        max_body_bytes=4096,
        max_events_per_batch=5,
        reload_interval_s=0,
    )


@pytest.fixture
def app(settings: Settings) -> App:
    service = App(settings)
    service.startup()
    return service


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        yield http
