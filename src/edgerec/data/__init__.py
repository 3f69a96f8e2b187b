"""Interaction data: readers, the id vocabulary and the leave-one-out split."""

from edgerec.data._readers import FORMATS, Interactions, read_interactions
from edgerec.data._sequences import LeaveOneOutSplit, SequenceData, build_sequences, leave_one_out
from edgerec.data._vocab import ArrayVocabulary, Vocabulary

__all__ = [
    "FORMATS",
    "ArrayVocabulary",
    "Interactions",
    "LeaveOneOutSplit",
    "SequenceData",
    "Vocabulary",
    "build_sequences",
    "leave_one_out",
    "read_interactions",
]
