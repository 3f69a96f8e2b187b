"""Interaction data: readers, the id vocabulary and the leave-one-out split.

The readers and the split load on first use: serving needs only the vocabulary, and their
modules were ~4 ms of every server start (python -X importtime).
"""

from typing import TYPE_CHECKING, Any

from edgerec.data._vocab import ArrayVocabulary, Vocabulary

if TYPE_CHECKING:
    from edgerec.data._readers import FORMATS, Interactions, read_interactions
    from edgerec.data._sequences import (
        LeaveOneOutSplit,
        SequenceData,
        build_sequences,
        leave_one_out,
    )
    from edgerec.data._time import iso_seconds

__all__ = [
    "FORMATS",
    "ArrayVocabulary",
    "Interactions",
    "LeaveOneOutSplit",
    "SequenceData",
    "Vocabulary",
    "build_sequences",
    "iso_seconds",
    "leave_one_out",
    "read_interactions",
]

_LAZY = {
    "FORMATS": "_readers",
    "Interactions": "_readers",
    "read_interactions": "_readers",
    "LeaveOneOutSplit": "_sequences",
    "SequenceData": "_sequences",
    "build_sequences": "_sequences",
    "iso_seconds": "_time",
    "leave_one_out": "_sequences",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
