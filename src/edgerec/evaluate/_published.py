"""Published full-ranking numbers on the S3-Rec Amazon files, transcribed digit for digit.

Source of every row: ``shared/datasets/PUBLISHED_RESULTS.md`` (which cites the original artifact).
``None`` marks a metric the source does not report. Rows marked "no mask" come from RecBole runs
that do not exclude seen items; on Beauty and Toys that changes little (no repeats in the files).
"""

from __future__ import annotations

PUBLISHED_COLUMNS = ("HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20")

Row = tuple[float | None, ...]

PUBLISHED: dict[str, dict[str, Row]] = {
    "Beauty": {
        "Pop (S3-Rec table)": (0.0080, 0.0044, 0.0152, 0.0068, 0.0217, 0.0084),
        "SASRec (S3-Rec table)": (0.0387, 0.0249, 0.0605, 0.0318, 0.0902, 0.0394),
        "S3-Rec": (0.0387, 0.0244, 0.0647, 0.0327, 0.0994, 0.0414),
        "ICLRec (checkpoints)": (0.0500, 0.0326, 0.0744, 0.0403, 0.1058, 0.0483),
        "DuoRec (MCLRec table, no mask)": (0.0559, 0.0340, 0.0825, 0.0425, 0.1193, 0.0518),
        "MCLRec (no mask)": (0.0581, 0.0352, 0.0871, 0.0446, 0.1243, 0.0539),
        "ICSRec (checkpoints)": (0.0698, 0.0494, 0.0959, 0.0578, 0.1298, 0.0663),
        "BSARec (official log)": (0.0736, 0.0523, 0.1008, 0.0611, 0.1373, 0.0703),
    },
    "Toys": {
        "Pop (S3-Rec table)": (0.0066, 0.0046, 0.0113, 0.0061, 0.0163, 0.0073),
        "SASRec (S3-Rec table)": (0.0463, 0.0306, 0.0675, 0.0374, 0.0941, 0.0441),
        "S3-Rec": (0.0443, 0.0294, 0.0700, 0.0376, 0.1065, 0.0468),
        "ICLRec (checkpoints)": (0.0598, 0.0404, 0.0834, 0.0480, 0.1138, 0.0557),
        "DuoRec (ICSRec table, no mask)": (0.0655, 0.0392, None, None, 0.1293, 0.0574),
        "ICSRec (checkpoints)": (0.0788, 0.0571, 0.1055, 0.0657, 0.1368, 0.0736),
    },
}

_ALIASES = {"beauty": "Beauty", "toys": "Toys", "toys_and_games": "Toys"}


def published_rows(dataset: str) -> dict[str, Row]:
    """Rows for a dataset name or file stem ("Beauty", "Toys_and_Games"); empty when unknown."""
    return PUBLISHED.get(_ALIASES.get(dataset.lower(), dataset), {})
