from __future__ import annotations

import numpy as np

from edgerec.data import Vocabulary, build_sequences, leave_one_out
from tests.conftest import planted_interactions


def test_leave_one_out_holds_out_last_two() -> None:
    data = build_sequences(planted_interactions(users=20))
    split = leave_one_out(data)
    for position, user in enumerate(split.valid_users):
        sequence = data.sequences[user]
        assert split.test_targets[position] == sequence[-1]
        assert split.valid_targets[position] == sequence[-2]
        assert np.array_equal(split.train[user], sequence[:-2])
    histories, targets = split.inputs(data.sequences, "test")
    assert np.array_equal(histories[0], data.sequences[split.valid_users[0]][:-1])
    assert np.array_equal(targets, split.test_targets)


def test_vocabulary_shuffle_hides_source_numbering() -> None:
    ids = [str(number) for number in range(1, 1001)]
    vocab = Vocabulary.build(ids, seed=0)
    assert Vocabulary.build(ids, seed=0).ids == vocab.ids
    dense = vocab.lookup(ids)
    # Consecutive source ids must not stay consecutive after the shuffle.
    assert np.mean(np.diff(dense) == 1) < 0.01
    assert vocab.external(dense) == ids
    assert vocab.get("nope") is None and "nope" not in vocab
