from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from edgerec.data import build_sequences, read_interactions
from edgerec.errors import DataError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_string_ids_iso_and_epoch_times(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "log.csv",
        "user_id,item_id,timestamp,event_type,weight\n"
        "alice,SKU-9,2024-01-02T10:00:00Z,view,\n"
        "alice,SKU-1,1704103200,purchase,3\n"
        "bob,SKU-9,1704103300.5,view,1\n",
    )
    table = read_interactions(path)
    assert list(table.user_ids) == ["alice", "alice", "bob"]
    assert list(table.item_ids) == ["SKU-9", "SKU-1", "SKU-9"]
    assert table.timestamps[0] == pytest.approx(1704189600.0)
    assert list(table.weights) == [1.0, 3.0, 1.0]
    assert list(table.event_types) == ["view", "purchase", "view"]


@pytest.mark.usefixtures("far_from_utc")
def test_a_time_without_a_zone_is_utc_wherever_it_is_read(tmp_path: Path) -> None:
    assert time.localtime(0).tm_hour == 19  # the zone took
    path = write(
        tmp_path, "log.csv", "user_id,item_id,timestamp\nu,a,2024-01-02T10:00:00\nu,b,2024-01-02\n"
    )
    assert list(read_interactions(path).timestamps) == [1704189600.0, 1704153600.0]


def test_a_byte_order_mark_is_skipped_and_other_encodings_are_named(tmp_path: Path) -> None:
    marked = tmp_path / "excel.csv"
    marked.write_bytes(b"\xef\xbb\xbfuser_id,item_id,timestamp\nu,a,1\n")
    assert list(read_interactions(marked).item_ids) == ["a"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("user_id,item_id,timestamp\nu,café,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: not UTF-8 text \(byte 0xe9"):
        read_interactions(latin)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # DictReader fills the missing field with None: "unparsable timestamp None" before.
        ("user_id,item_id,timestamp\nu,a,1\nu,b\n", "line 3, column timestamp: the row has fewer"),
        # The last copy of a column would have been read, silently.
        (
            "user_id,item_id,timestamp,user_id\nu,a,1,x\n",
            "line 1, column user_id: column(s) user_id",
        ),
    ],
)
def test_short_rows_and_doubled_columns_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        read_interactions(write(tmp_path, "log.csv", text))


def test_tsv_and_jsonl_read_the_same_rows(tmp_path: Path) -> None:
    tsv = write(tmp_path, "log.tsv", "user_id\titem_id\ttimestamp\nu1\ti1\t1\nu1\ti2\t2\n")
    rows = [
        {"user_id": "u1", "item_id": "i1", "timestamp": 1},
        {"user_id": "u1", "item_id": "i2", "timestamp": 2},
    ]
    jsonl = write(tmp_path, "log.jsonl", "\n".join(json.dumps(row) for row in rows) + "\n")
    a, b = read_interactions(tsv), read_interactions(jsonl)
    assert list(a.item_ids) == list(b.item_ids)
    assert np.array_equal(a.timestamps, b.timestamps)


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "log.parquet"
    pq.write_table(
        pa.table({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "timestamp": [10, 20]}), path
    )
    assert list(read_interactions(path).item_ids) == ["a", "b"]


def test_parquet_null_names_row_and_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "log.parquet"
    pq.write_table(
        pa.table({"user_id": ["u1", None], "item_id": ["a", "b"], "timestamp": [10, 20]}), path
    )
    with pytest.raises(DataError, match=r"log.parquet, column user_id: row 2: empty user_id"):
        read_interactions(path)


def test_sequence_file_keeps_order(tmp_path: Path) -> None:
    path = write(tmp_path, "seq.txt", "7 3 1 2\n8 2 3\n")
    data = build_sequences(read_interactions(path), seed=3)
    assert data.users == ["7", "8"]
    assert [data.vocab.external(s) for s in data.sequences] == [["3", "1", "2"], ["2", "3"]]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "user,item_id,timestamp\nu,i,1\n", r"a.csv, line 1, column user_id: missing"),
        (
            "b.csv",
            "user_id,item_id,timestamp\nu,i,1\nu,i,yesterday\n",
            r"b.csv, line 3, column timestamp: unparsable timestamp 'yesterday'",
        ),
        ("c.csv", "user_id,item_id,timestamp\n", r"c.csv: the file has a header but no events"),
        ("d.txt", "1 5 6\n2\n", r"d.txt, line 2, column item_id: user '2' has no events"),
        (
            "e.jsonl",
            '{"user_id": "u", "item_id": "i", "timestamp": 1}\n{oops\n',
            r"e.jsonl, line 2: invalid JSON",
        ),
        (
            "f.csv",
            "user_id,item_id,timestamp,weight\nu,i,1,-2\n",
            r"f.csv, line 2, column weight: weight '-2' must be a positive",
        ),
        ("g.csv", "user_id,item_id,timestamp\nu,,1\n", r"g.csv, line 2, column item_id: empty"),
        ("h.xlsx", "x", r"cannot tell the format"),
    ],
)
def test_bad_input_names_file_line_and_column(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        read_interactions(write(tmp_path, name, text))


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="the file is empty"):
        read_interactions(write(tmp_path, "empty.csv", ""))
    with pytest.raises(DataError, match="no such file"):
        read_interactions(tmp_path / "absent.csv")


def test_events_sorted_by_time_with_ties_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "log.csv",
        "user_id,item_id,timestamp\nu,late,5\nu,tie-a,1\nu,tie-b,1\nu,early,0\n",
    )
    data = build_sequences(read_interactions(path))
    assert data.vocab.external(data.sequences[0]) == ["early", "tie-a", "tie-b", "late"]


def test_fingerprint_is_independent_of_the_shuffle_seed(tmp_path: Path) -> None:
    path = write(tmp_path, "seq.txt", "1 5 6 7\n2 6 5\n")
    a = build_sequences(read_interactions(path), seed=1)
    b = build_sequences(read_interactions(path), seed=2)
    assert a.fingerprint == b.fingerprint
    assert a.vocab.ids != b.vocab.ids or len(a.vocab) < 3


def test_the_services_event_store_is_read_in_commit_order(tmp_path: Path) -> None:
    from edgerec.serve._store import Event, EventWriter, initialise

    # A directory name a URI would misread: the store must still be the file named.
    store = tmp_path / "odd #?% dir" / "events.sqlite3"
    initialise(store)
    writer = EventWriter(store)
    writer.append(
        [
            Event("ann", "sku-2", "view", 1_700_000_100.0),
            Event("ann", "sku-1", "purchase", 1_700_000_000.0),
            Event("bob", "sku-2", "view", 1_700_000_000.0),
        ]
    ).result()
    writer.close()
    table = read_interactions(store)
    assert list(table.user_ids) == ["ann", "ann", "bob"]
    assert list(table.item_ids) == ["sku-2", "sku-1", "sku-2"]
    assert list(table.event_types) == ["view", "purchase", "view"]
    assert list(table.timestamps) == [1_700_000_100.0, 1_700_000_000.0, 1_700_000_000.0]
    # Trained in time order, not commit order.
    data = build_sequences(table)
    ann = data.sequences[data.users.index("ann")]
    assert list(data.vocab.external(ann)) == ["sku-1", "sku-2"]


def test_a_file_that_is_not_an_event_store_is_named(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(DataError, match="not an edgerec event store"):
        read_interactions(other)
    text = write(tmp_path, "notes.sqlite3", "just text\n")
    with pytest.raises(DataError, match="not an edgerec event store"):
        read_interactions(text)
    from edgerec.serve._store import initialise

    initialise(tmp_path / "empty.sqlite3")
    with pytest.raises(DataError, match="the event store holds no events"):
        read_interactions(tmp_path / "empty.sqlite3")
