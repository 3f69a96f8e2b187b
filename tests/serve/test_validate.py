"""The request-path query parser agrees with urllib's parse_qs (blank values kept)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from edgerec.serve._http import HTTPError
from edgerec.serve._validate import parse_events, query_params

CASES = [
    "",
    "k=10",
    "k=10&k=3",
    "k",
    "k=",
    "=v",
    "&&k=1&",
    "exclude=a,b&category=Face%20Care",
    "category=a+b",
    "k=1=2",
    "name=ünïcode",
]


@pytest.mark.parametrize("raw", CASES)
def test_matches_parse_qs(raw: str) -> None:
    assert query_params(raw.encode()) == parse_qs(raw, keep_blank_values=True)


def test_non_utf8_is_a_400() -> None:
    with pytest.raises(HTTPError) as caught:
        query_params(b"k=\xff")
    assert caught.value.status == 400


@pytest.mark.usefixtures("far_from_utc")
def test_an_event_time_without_a_zone_is_utc() -> None:
    events = [{"user_id": "u", "item_id": "a", "timestamp": "2024-01-02T10:00:00"}]
    assert parse_events({"events": events}, 5)[0].timestamp == 1704189600.0
