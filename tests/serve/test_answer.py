"""Answers: the compiled rendering gives the bytes of the numpy-only one, and answers read as
`Ranked` entries."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from edgerec.data import ArrayVocabulary
from edgerec.infer._kernels import native
from edgerec.serve import _answer
from edgerec.serve._answer import Answer, Ranked, Renderer

# Ids and names JSON must escape (quotes, backslashes, control characters) and UTF-8 it must not.
IDS = ["plain", 'quo"te', "back\\slash", "new\nline", "tab\tbell\x07", "caf\u00e9 \u2603", "x" * 40]
CATALOG = {"plain": ('A "good" one', "cat\n1"), "caf\u00e9 \u2603": ("\u00e9t\u00e9", "c2")}


def vocabulary(ids: list[str]) -> ArrayVocabulary:
    encoded = np.array([value.encode() for value in ids])
    order = np.argsort(encoded, kind="stable")
    return ArrayVocabulary(encoded, encoded[order], order)


def batch() -> tuple[np.ndarray, np.ndarray, list[int]]:
    columns = np.array([[5, 1, 2, 3], [0, 4, 6, 0], [6, 0, 0, 0]], dtype=np.int64)
    scores = np.array(
        [[0.25, 1e-8, -3.5, 7.0], [123456.789, 0.1, 1e30, np.nan], [-np.inf, 0, 0, 0]],
        dtype=np.float32,
    )
    return columns, scores, [4, 3, 0]  # the last row answers nothing


@pytest.mark.parametrize("catalog", [{}, CATALOG])
def test_compiled_rendering_gives_the_reference_bytes(
    catalog: dict[str, tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    if native is None:
        pytest.skip("compiled kernels off")
    columns, scores, counts = batch()
    renderer = Renderer(vocabulary(IDS), catalog)
    compiled = renderer.render(columns, scores, counts, "model")
    monkeypatch.setattr(_answer, "native", None)
    assert compiled == renderer.render(columns, scores, counts, "model")
    items = orjson.loads(compiled[0])
    assert [item["item_id"] for item in items] == [IDS[i] for i in columns[0]]
    assert items[0]["score"] == float(np.float32(0.25)) and items[1]["score"] == float(
        np.float32(1e-8)
    )
    assert orjson.loads(compiled[2]) == []
    if catalog:
        described = orjson.loads(compiled[1])[0]
        assert (described["name"], described["category"]) == CATALOG["plain"]
        assert "name" not in orjson.loads(compiled[1])[1]


def test_rendering_refuses_bad_input() -> None:
    if native is None:
        pytest.skip("compiled kernels off")
    renderer = Renderer(vocabulary(IDS), CATALOG)
    columns, scores, counts = batch()
    with pytest.raises(IndexError, match="out of range"):
        renderer.render(columns + 7, scores, counts, "model")
    with pytest.raises(ValueError, match="outside"):
        renderer.render(columns, scores, [5, 0, 0], "model")
    ids = renderer.vocab.utf8_ids
    with pytest.raises(ValueError, match="JSON array"):
        native.render(
            columns, 3, 4, np.array(counts), b"[1,2]", ids, ids.dtype.itemsize, len(ids), b"",
            None, b"model",
        )  # fmt: skip


def test_answers_read_as_ranked_entries() -> None:
    renderer = Renderer(vocabulary(IDS), CATALOG)
    columns, scores, counts = batch()
    first, second, empty = renderer.answers(columns, scores, counts, "popular")
    assert list(first) == [
        Ranked(IDS[i], float(score), "popular")
        for i, score in zip(columns[0], scores[0], strict=True)
    ]
    assert len(second) == 3 and second[0].item_id == "plain" and first == list(first)
    assert (first.source, empty.source, len(empty)) == ("popular", "popular", 0)
    # Given entries (re-ranking: unscored items too) render as the reference does.
    entries = [Ranked("plain", 0.5, "model"), Ranked("not-in-the-model", None, "unscored")]
    given = renderer.of(entries)
    assert given == entries and given.source == "model"
    assert orjson.loads(given.json)[1] == {
        "item_id": "not-in-the-model", "score": None, "source": "unscored"
    }  # fmt: skip
    assert isinstance(given, Answer) and not renderer.of([])
