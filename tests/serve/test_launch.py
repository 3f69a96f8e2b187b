from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edgerec.errors import DataError
from edgerec.serve import _launch
from edgerec.serve._store import initialise


def test_a_refused_batch_policy_keeps_the_default_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    with caplog.at_level(logging.WARNING):
        assert _launch.use_batch_scheduling() is False
    assert "keeping the default policy" in caplog.text


def serve(*arguments: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    """`edgerec serve` (on a free port unless told); a timeout here means it started instead
    of refusing."""
    if port is None:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
    command = [sys.executable, "-m", "edgerec.cli", "serve", "--port", str(port), *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", ["no artifact", "state dir a file", "store not a database"])
def test_serve_refuses_what_it_cannot_start_with_one_line(
    tmp_path: Path, artifact: Path, case: str
) -> None:
    state = tmp_path / "state"
    if case == "no artifact":
        result = serve("--artifact", str(tmp_path / "missing"), "--state-dir", str(state))
        message = "not an artifact directory"
    elif case == "state dir a file":
        state.write_text("")
        result = serve("--artifact", str(artifact), "--state-dir", str(state / "inside"))
        message = "setting state_dir: cannot create"
    else:
        state.mkdir()
        (state / "events.sqlite3").write_text("not sqlite")
        result = serve("--artifact", str(artifact), "--state-dir", str(state))
        message = "the event store cannot be opened"
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_port_another_server_listens_on(tmp_path: Path, artifact: Path) -> None:
    # The other server binds as granian does, with SO_REUSEPORT, which would let a second one
    # bind beside it without an error.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = serve("--artifact", str(artifact), "--state-dir", str(tmp_path), port=port)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_catalog_may_start_with_a_byte_order_mark_but_must_be_utf8(tmp_path: Path) -> None:
    database = tmp_path / "events.sqlite3"
    initialise(database)
    catalog = tmp_path / "catalog.csv"
    catalog.write_bytes(b"\xef\xbb\xbfitem_id,name,category\nsku-1,Mug,kitchen\n")
    assert _launch.load_catalog(database, catalog) == 1
    catalog.write_bytes("item_id,name,category\nsku-1,Café mug,kitchen\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"catalog\.csv: not UTF-8 text"):
        _launch.load_catalog(database, catalog)
    with pytest.raises(DataError, match=r"missing\.csv: cannot read the catalog: No such file"):
        _launch.load_catalog(database, tmp_path / "missing.csv")
