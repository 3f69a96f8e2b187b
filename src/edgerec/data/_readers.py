"""Readers for interaction logs: CSV/TSV, Parquet, JSON Lines, one-line-per-user sequences and
the event store ``edgerec serve`` writes (SQLite), so a node's clicks train the next model.

Every reader returns the same :class:`Interactions` table and reports bad input as a
:class:`~edgerec.errors.DataError` naming the file, the line (or row) and the column.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from edgerec._sqlite import sqlite_uri
from edgerec.data._time import iso_seconds, utc_seconds
from edgerec.errors import DataError, MissingExtraError

REQUIRED_COLUMNS = ("user_id", "item_id", "timestamp")
OPTIONAL_COLUMNS = ("event_type", "weight")
READ_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)

# Extensions mapped to reader names; `read_interactions(format=...)` overrides.
_FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "sequences",
    ".sqlite3": "sqlite",
    ".sqlite": "sqlite",
    ".db": "sqlite",
}
FORMATS = ("csv", "tsv", "parquet", "jsonl", "sequences", "sqlite")
# The service's store (`edgerec.serve._store`): its events in commit order, under the names
# every reader gives its columns. A contract with serving, bound by a test, not an import.
_STORE_EVENTS = "SELECT id, user_id, item_id, ts AS timestamp, event_type FROM events ORDER BY id"


@dataclass(frozen=True)
class Interactions:
    """A table of events, one row per (user, item, time).

    Attributes:
        user_ids: external user ids, shape (n,), dtype object (str).
        item_ids: external item ids, shape (n,), dtype object (str).
        timestamps: event times in seconds (or positions for sequence files), shape (n,), float64.
        weights: event weights, shape (n,), float32; 1.0 where the input has none.
        event_types: event type per row, shape (n,), dtype object (str); "" where absent.
        source: the path the rows were read from.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray
    weights: np.ndarray
    event_types: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.user_ids)


# UTF-8, a byte-order mark at the start skipped (spreadsheet exports write one, and it would
# stick to the first column's name).
TEXT_ENCODING = "utf-8-sig"


def read_interactions(path: str | Path, format: str | None = None) -> Interactions:
    """Read an interaction log, choosing the reader from ``format`` or the file extension.

    Raises:
        DataError: the file is missing, empty or has a bad row (message names line and column).
    """
    file = Path(path)
    fmt = format or _FORMAT_BY_SUFFIX.get(file.suffix.lower())
    if fmt not in FORMATS:
        raise DataError(
            f"cannot tell the format from the extension '{file.suffix}'; "
            f"pass one of {', '.join(FORMATS)}",
            path=str(file),
        )
    if not file.is_file():
        raise DataError("no such file", path=str(file))
    if file.stat().st_size == 0:
        raise DataError("the file is empty", path=str(file))
    try:
        if fmt in ("csv", "tsv"):
            return _from_rows(file, _csv_rows(file, "\t" if fmt == "tsv" else ","), "line")
        if fmt == "jsonl":
            return _from_rows(file, _jsonl_rows(file), "line")
        if fmt == "parquet":
            return _from_rows(file, _parquet_rows(file), "row")
        if fmt == "sqlite":
            return _from_rows(file, _store_rows(file), "event id", "the event store holds")
        return _read_sequences(file)
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start : exc.start + 1].hex()
        raise DataError(
            f"not UTF-8 text (byte 0x{byte}: {exc.reason}); save it as UTF-8", path=str(file)
        ) from None


def _csv_rows(file: Path, delimiter: str) -> Iterator[tuple[int, Mapping[str, object]]]:
    with file.open(newline="", encoding=TEXT_ENCODING) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        names = [name.strip() for name in reader.fieldnames or []]
        _check_header(file, names, line=1)
        reader.fieldnames = names
        for row in reader:
            if None in row.values():  # DictReader's filler for the fields a short row lacks
                missing = next(name for name, value in row.items() if value is None)
                raise DataError(
                    f"the row has fewer fields than the header's {len(names)}",
                    path=str(file),
                    line=reader.line_num,
                    column=missing,
                )
            yield reader.line_num, row


def _jsonl_rows(file: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    with file.open(encoding=TEXT_ENCODING) as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON: {exc.msg}", path=str(file), line=number) from None
            if not isinstance(row, dict):
                raise DataError("each line must be a JSON object", path=str(file), line=number)
            _check_header(file, list(row), line=number)
            yield number, row


def _parquet_rows(file: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtraError("reading Parquet", "parquet", "pyarrow") from None
    try:
        table = pq.read_table(file)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"not a readable Parquet file ({exc})", path=str(file)) from None
    _check_header(file, table.column_names, line=None)
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    for index in range(table.num_rows):
        yield index + 1, {name: values[index] for name, values in columns.items()}


def _store_rows(file: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    # Read-only: a running server may be writing; WAL lets this read a consistent snapshot.
    connection = sqlite3.connect(sqlite_uri(file, "ro"), uri=True)
    try:
        try:
            rows = connection.execute(_STORE_EVENTS)
        except sqlite3.DatabaseError as exc:
            raise DataError(
                f"not an edgerec event store ({exc}); the service writes one to"
                " <state_dir>/events.sqlite3",
                path=str(file),
            ) from None
        names = [column[0] for column in rows.description]
        for row in rows:
            yield row[0], dict(zip(names, row, strict=True))
    finally:
        connection.close()


def _check_header(file: Path, names: list[str], line: int | None) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    # Twice in the header, a column would be read from its last copy only, silently.
    twice = sorted({name for name in names if name in READ_COLUMNS and names.count(name) > 1})
    if missing:
        found = ", ".join(names) or "none"
        message = f"missing required column(s) {', '.join(missing)}; found {found}"
    elif twice:
        message = f"column(s) {', '.join(twice)} appear more than once in the header"
    else:
        return
    raise DataError(message, path=str(file), line=line, column=(missing or twice)[0])


def _from_rows(
    file: Path,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    unit: str,
    holds: str = "the file has a header but",
) -> Interactions:
    """``holds`` begins the error for no rows at all: "<holds> no events"."""
    users: list[str] = []
    items: list[str] = []
    times: list[float] = []
    weights: list[float] = []
    events: list[str] = []
    for number, row in rows:

        def fail(column: str, message: str, number: int = number) -> DataError:
            where = f"{unit} {number}" if unit != "line" else None
            return DataError(
                f"{where + ': ' if where else ''}{message}",
                path=str(file),
                line=number if unit == "line" else None,
                column=column,
            )

        users.append(_required_text(row, "user_id", fail))
        items.append(_required_text(row, "item_id", fail))
        times.append(_parse_timestamp(row.get("timestamp"), fail))
        weights.append(_parse_weight(row.get("weight"), fail))
        event = row.get("event_type")
        events.append("" if event is None else str(event).strip())
    if not users:
        raise DataError(f"{holds} no events", path=str(file))
    return Interactions(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        timestamps=np.array(times, dtype=np.float64),
        weights=np.array(weights, dtype=np.float32),
        event_types=np.array(events, dtype=object),
        source=str(file),
    )


def _required_text(
    row: Mapping[str, object], column: str, fail: Callable[[str, str], DataError]
) -> str:
    value = row.get(column)
    text = "" if value is None else str(value).strip()
    if not text:
        raise fail(column, f"empty {column}")
    return text


def _parse_timestamp(value: object, fail: Callable[[str, str], DataError]) -> float:
    """Accept epoch seconds (int/float, also as text), ISO 8601 text or a datetime (without a
    zone: UTC)."""
    if isinstance(value, datetime):
        return utc_seconds(value)
    if isinstance(value, bool) or value is None:
        raise fail("timestamp", f"unparsable timestamp {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                return iso_seconds(text)
            except ValueError:
                raise fail(
                    "timestamp",
                    f"unparsable timestamp {text!r} (want epoch seconds or ISO 8601)",
                ) from None
    if not math.isfinite(seconds):
        raise fail("timestamp", f"unparsable timestamp {value!r}")
    return seconds


def _parse_weight(value: object, fail: Callable[[str, str], DataError]) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1.0
    try:
        weight = float(str(value))
    except ValueError:
        raise fail("weight", f"weight {value!r} is not a number") from None
    if not math.isfinite(weight) or weight <= 0:
        raise fail("weight", f"weight {value!r} must be a positive finite number")
    return weight


def _read_sequences(file: Path) -> Interactions:
    """One line per user: ``user_id item item ...`` in chronological order; time = position."""
    users: list[str] = []
    items: list[str] = []
    times: list[float] = []
    with file.open(encoding=TEXT_ENCODING) as handle:
        for number, text in enumerate(handle, start=1):
            fields = text.split()
            if not fields:
                continue
            if len(fields) == 1:
                raise DataError(
                    f"user {fields[0]!r} has no events",
                    path=str(file),
                    line=number,
                    column="item_id",
                )
            user = fields[0]
            for position, item in enumerate(fields[1:]):
                users.append(user)
                items.append(item)
                times.append(float(position))
    if not users:
        raise DataError("the file has no events", path=str(file))
    count = len(users)
    return Interactions(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        timestamps=np.array(times, dtype=np.float64),
        weights=np.ones(count, dtype=np.float32),
        event_types=np.full(count, "", dtype=object),
        source=str(file),
    )
