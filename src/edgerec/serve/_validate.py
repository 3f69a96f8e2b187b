"""Request validation: every bad input becomes a precise 4xx ``HTTPError``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes

from edgerec.data import iso_seconds
from edgerec.serve._http import HTTPError
from edgerec.serve._store import Event

MAX_ID_LENGTH = 256
MAX_LIST = 1000
EVENTS_BODY_FIELDS = frozenset({"events"})
EVENT_FIELDS = frozenset({"user_id", "item_id", "event_type", "timestamp"})
# Query parameters, refused when unknown as body fields are: a misspelt "exclude" would
# otherwise show the shopper what the caller meant to hide.
USER_QUERY = frozenset({"k", "exclude", "category"})
SIMILAR_QUERY = frozenset({"k"})
_DAY = 86_400


def query_params(raw: bytes) -> dict[str, list[str]]:
    """``parse_qs`` with blank values kept; plain strings (no escapes) are split directly,
    at a fifth of its cost on the request path."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError(400, "malformed_query", "query string is not UTF-8") from None
    if "%" in text or "+" in text:
        try:
            # Strict: an escape that is not UTF-8 would otherwise turn into U+FFFD, and two
            # different ids into one.
            return parse_qs(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise HTTPError(400, "malformed_query", "query string is not UTF-8") from None
    params: dict[str, list[str]] = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            params.setdefault(name, []).append(value)
    return params


def path_segments(raw: bytes) -> list[str]:
    """The segments of a raw request path, each percent-decoded on its own, so an id may hold
    an encoded "/" (``a%2Fb``), which the server's decoded path splits in two."""
    try:
        # A "?" cannot be in a raw path: some clients pass the query string along after one.
        return [unquote_to_bytes(part).decode() for part in raw.partition(b"?")[0].split(b"/")]
    except UnicodeDecodeError:
        raise HTTPError(400, "malformed_path", "path is not UTF-8 once percent-decoded") from None


def parse_k(value: Any, default: int, maximum: int) -> int:
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema counts 10.0 as an integer
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise HTTPError(422, "invalid_k", f"k must be an integer from 1 to {maximum}")
    try:
        k = int(value)
    except ValueError:
        raise HTTPError(422, "invalid_k", f"k must be an integer from 1 to {maximum}") from None
    if not 1 <= k <= maximum:
        raise HTTPError(422, "invalid_k", f"k must be an integer from 1 to {maximum}, got {k}")
    return k


def body_k(value: Any, default: int, maximum: int) -> int:
    """``k`` of a JSON body: a number, as /openapi.json says; text is for the query string."""
    if isinstance(value, str):
        raise HTTPError(422, "invalid_k", f"k must be an integer from 1 to {maximum}, not text")
    return parse_k(value, default, maximum)


def identifier(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise HTTPError(
            422,
            "invalid_field",
            f"{field} must be a non-empty string of at most {MAX_ID_LENGTH} characters",
        )
    return value


def id_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise HTTPError(422, "invalid_field", f"{field} must be a list of at most {MAX_LIST} ids")
    return [identifier(item, f"{field}[{index}]") for index, item in enumerate(value)]


def query_list(params: Mapping[str, list[str]], name: str) -> list[str]:
    values = [part for raw in params.get(name, []) for part in raw.split(",") if part]
    return id_list(values, name)


def optional_text(value: Any, field: str) -> str | None:
    return None if value is None else identifier(value, field)


def parse_events(body: Mapping[str, Any], limit: int) -> list[Event]:
    # An unknown field is refused, not ignored: a misspelt "timestamp" would otherwise give
    # every event the time it arrived, silently.
    known_fields(body, EVENTS_BODY_FIELDS, "body")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise HTTPError(422, "invalid_events", 'body must be {"events": [ ... ]} with 1+ events')
    if len(events) > limit:
        raise HTTPError(
            422, "too_many_events", f"a batch holds at most {limit} events, got {len(events)}"
        )
    return [_event(raw, index) for index, raw in enumerate(events)]


def _event(raw: Any, index: int) -> Event:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise HTTPError(422, "invalid_events", f"{where} must be an object")
    known_fields(raw, EVENT_FIELDS, where)
    event_type = raw.get("event_type")
    if event_type is None:
        event_type = "view"
    return Event(
        user_id=identifier(raw.get("user_id"), f"{where}.user_id"),
        item_id=identifier(raw.get("item_id"), f"{where}.item_id"),
        event_type=identifier(event_type, f"{where}.event_type"),
        timestamp=_timestamp(raw.get("timestamp"), f"{where}.timestamp"),
    )


def known_fields(
    value: Mapping[str, Any], known: AbstractSet[str], where: str, what: str = "field"
) -> None:
    """Refuse a field (or query ``what="parameter"``) not in ``known``: a 422 naming it and
    the known ones, instead of ignoring it."""
    unknown = sorted(set(value) - known)
    if unknown:
        raise HTTPError(
            422,
            f"unknown_{what}",
            f"{where}: unknown {what}(s) {', '.join(map(repr, unknown))}"
            f" (known: {', '.join(sorted(known)) or 'none'})",
        )


def no_query(raw: bytes) -> None:
    """Refuse query parameters on a route that reads only its body: a ``k`` put in the URL of
    a POST would otherwise be ignored."""
    if raw:
        known_fields(query_params(raw), frozenset(), "query", "parameter")


def _timestamp(value: Any, field: str) -> float:
    if value is None:
        return time.time()
    if isinstance(value, str):
        # Any date-time, as /openapi.json promises (a schema cannot bound a string's instant
        # by the clock): a written-out date is never milliseconds in disguise.
        try:
            return iso_seconds(value)
        except ValueError:
            pass
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not 0.0 <= value < float("inf"):  # NaN fails too
            raise HTTPError(422, "invalid_field", f"{field} must be a finite epoch time")
        if value > latest_timestamp():
            raise HTTPError(
                422,
                "invalid_field",
                f"{field} is past the end of tomorrow (UTC) by this node's clock "
                f"(epoch seconds are wanted, not milliseconds): {value!r}",
            )
        return float(value)
    raise HTTPError(422, "invalid_field", f"{field} must be epoch seconds or an ISO 8601 string")


def latest_timestamp() -> int:
    """The latest epoch time an event may carry as a number, the end of tomorrow (UTC) by
    this node's clock: clocks drift, but milliseconds sent as seconds (a common slip) land
    tens of thousands of years ahead. A whole day, so the bound /openapi.json states holds
    until midnight instead of moving every second."""
    return (int(time.time()) // _DAY + 2) * _DAY
