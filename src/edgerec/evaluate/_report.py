"""Plain-text tables of metrics beside the published rows."""

from __future__ import annotations

from collections.abc import Mapping

from edgerec.evaluate._published import PUBLISHED_COLUMNS, Row

OURS_COLUMNS = (*PUBLISHED_COLUMNS, "MRR", "coverage@10")


def format_table(
    ours: Mapping[str, Mapping[str, float]], published: Mapping[str, Row], title: str
) -> str:
    names = [*ours, *published]
    width = max([len(name) for name in names] + [10])
    header = f"{'model':<{width}}  " + "  ".join(f"{col:>11}" for col in OURS_COLUMNS)
    lines = [title, header, "-" * len(header)]
    for name, metrics in ours.items():
        cells = [_cell(metrics.get(column)) for column in OURS_COLUMNS]
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    if published:
        lines.append(f"{'published (PUBLISHED_RESULTS.md)':<{width}}")
        for name, values in published.items():
            cells = [_cell(value) for value in (*values, None, None)]
            lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return f"{'—':>11}" if value is None else f"{value:>11.4f}"
