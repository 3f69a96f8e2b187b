"""Exceptions raised by edgerec.

Hierarchy::

    EdgerecError
    ├── ConfigError        bad settings or hyper-parameters
    ├── DataError          unreadable or invalid interaction data (names file, line, column)
    ├── ArtifactError      missing, tampered, truncated or incompatible artifact
    ├── ModelFitError      training diverged (NaN loss) or could not start
    └── MissingExtraError  an optional dependency group is not installed
"""

from __future__ import annotations


class EdgerecError(Exception):
    """Base class of every error edgerec raises on purpose."""


class ConfigError(EdgerecError):
    """Settings or hyper-parameters are invalid."""


class DataError(EdgerecError):
    """Input data is invalid. The message names the file and, when known, line and column."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        where = [part for part in (path, _opt("line", line), _opt("column", column)) if part]
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")
        self.path = path
        self.line = line
        self.column = column


class ArtifactError(EdgerecError):
    """An artifact directory cannot be trusted or read."""


class ModelFitError(EdgerecError):
    """Training failed, for example because the loss became NaN."""


class MissingExtraError(EdgerecError, ImportError):
    """A feature needs an optional extra that is not installed."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the '{module}' package: install it with "
            f"`pip install 'edgerec[{extra}]'`"
        )


def _opt(label: str, value: object) -> str | None:
    return None if value is None else f"{label} {value}"
