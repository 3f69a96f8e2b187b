"""The artifact's memory-mapped vocabulary answers exactly like the dict one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgerec.artifact import load_artifact, write_artifact
from edgerec.data import ArrayVocabulary, Vocabulary
from edgerec.data import _vocab as vocab_module
from edgerec.data._vocab import DICT_MAX_IDS
from edgerec.errors import ArtifactError

IDS = ["sku-10", "sku-2", "café-☕", "a", "sku-1", "Z", "sku-100", "日本"]


def stored(tmp_path: Path, ids: list[str]) -> ArrayVocabulary:
    write_artifact(
        tmp_path / "model",
        model_type="popularity",
        config={"popularity": {}},
        item_ids=ids,
        arrays={"popularity": np.ones(len(ids), dtype=np.float32)},
        archives={},
        info={},
    )
    return load_artifact(tmp_path / "model").vocab


@pytest.mark.parametrize("dict_max", [DICT_MAX_IDS, 0], ids=["dict", "bisection"])
def test_lookups_match_the_dict_vocabulary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dict_max: int
) -> None:
    monkeypatch.setattr(vocab_module, "DICT_MAX_IDS", dict_max)
    vocab, reference = stored(tmp_path, IDS), Vocabulary(IDS)
    assert vocab.ids == IDS and len(vocab) == len(IDS)
    queries = [*IDS, "sku-1000", "sku-", "", "b", "sku-10 ", "zzzzzzzzzzzzzzzzzzzzzzzz"]
    for query in queries:
        assert vocab.get(query) == reference.get(query), query
        assert (query in vocab) == (query in reference)
    assert vocab.lookup(queries).tolist() == reference.lookup(queries).tolist()
    groups = [queries[:3], [], ["nope"], queries[3:], ["a", "a", "zzz"]]
    assert [found.tolist() for found in vocab.lookup_many(groups)] == [
        reference.lookup(group).tolist() for group in groups
    ]
    assert vocab.positions(["nope", "a", "nope"]).tolist() == [-1, 3, -1]
    assert vocab.external(np.array([2, 0])) == ["café-☕", "sku-10"]
    assert vocab.external([]) == [] and vocab.lookup([]).tolist() == []
    with pytest.raises(KeyError):
        vocab.index("sku-3")


def test_an_id_longer_than_every_stored_one_is_not_truncated_into_a_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vocab_module, "DICT_MAX_IDS", 0)
    vocab = stored(tmp_path, ["abc", "ab"])
    assert vocab.get("abcd") is None and vocab.get("abc") == 0


@pytest.mark.parametrize(("ids", "message"), [(["a", "b", "a"], "unique"), (["a", "b\x00"], "NUL")])
def test_export_refuses_ids_the_vocabulary_cannot_hold(
    tmp_path: Path, ids: list[str], message: str
) -> None:
    with pytest.raises(ArtifactError, match=message):
        stored(tmp_path, ids)
    assert not (tmp_path / "model").exists()
