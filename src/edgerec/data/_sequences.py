"""Per-user chronological sequences and the leave-one-out split of the sequential-rec papers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from edgerec.data._readers import Interactions
from edgerec.data._vocab import Vocabulary


@dataclass(frozen=True)
class SequenceData:
    """Chronological item sequences, one per user, over a shuffled item vocabulary.

    Attributes:
        users: external user ids, one per sequence.
        sequences: dense item indices per user, oldest first (int32 arrays).
        vocab: the item vocabulary.
        fingerprint: sha256 over the (user, item, order) content, to tie an artifact to its data.
    """

    users: list[str]
    sequences: list[np.ndarray]
    vocab: Vocabulary
    fingerprint: str
    source: str = ""

    @property
    def num_items(self) -> int:
        return len(self.vocab)

    @property
    def num_interactions(self) -> int:
        return int(sum(len(sequence) for sequence in self.sequences))


def build_sequences(interactions: Interactions, seed: int = 0) -> SequenceData:
    """Group events by user and sort each user's events by time (stable: ties keep file order)."""
    vocab = Vocabulary.build(interactions.item_ids, seed=seed)
    item_index = np.fromiter(
        (vocab.index(value) for value in interactions.item_ids),
        dtype=np.int32,
        count=len(interactions),
    )
    user_values, user_codes = np.unique(interactions.user_ids.astype(str), return_inverse=True)
    # Sort by (user, time) keeping file order among equal times, as the papers' preprocessing did.
    order = np.lexsort((np.arange(len(interactions)), interactions.timestamps, user_codes))
    sorted_codes = user_codes[order]
    boundaries = np.flatnonzero(np.diff(sorted_codes)) + 1
    groups = np.split(item_index[order], boundaries)
    users = [str(user_values[sorted_codes[start]]) for start in np.r_[0, boundaries]]
    digest = hashlib.sha256()
    for user, sequence in zip(users, groups, strict=True):
        digest.update(user.encode())
        digest.update(b"\x00")
        digest.update("\x1f".join(vocab.external(sequence)).encode())
        digest.update(b"\x1e")
    return SequenceData(
        users=users,
        sequences=[group.astype(np.int32) for group in groups],
        vocab=vocab,
        fingerprint=digest.hexdigest(),
        source=interactions.source,
    )


@dataclass(frozen=True)
class LeaveOneOutSplit:
    """Leave-one-out: last item = test, second-to-last = validation, the rest = training.

    Users with fewer than 3 events contribute to training only and are not evaluated.
    """

    train: list[np.ndarray]
    valid_users: np.ndarray
    valid_targets: np.ndarray
    test_targets: np.ndarray

    def inputs(
        self, sequences: list[np.ndarray], stage: str
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Input histories and held-out targets of every evaluated user at ``stage``.

        'valid' reads everything before the second-to-last item; 'test' everything before the last.
        """
        if stage not in ("valid", "test"):
            raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")
        cut = 2 if stage == "valid" else 1
        histories = [sequences[int(user)][:-cut] for user in self.valid_users]
        return histories, self.valid_targets if stage == "valid" else self.test_targets


def leave_one_out(data: SequenceData) -> LeaveOneOutSplit:
    train: list[np.ndarray] = []
    evaluated: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for user, sequence in enumerate(data.sequences):
        if len(sequence) >= 3:
            train.append(sequence[:-2])
            evaluated.append(user)
            valid.append(int(sequence[-2]))
            test.append(int(sequence[-1]))
        else:
            train.append(sequence)
    return LeaveOneOutSplit(
        train=train,
        valid_users=np.array(evaluated, dtype=np.int64),
        valid_targets=np.array(valid, dtype=np.int64),
        test_targets=np.array(test, dtype=np.int64),
    )
