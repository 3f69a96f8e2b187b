# Types of the compiled kernels in _native.c.
from collections.abc import Sequence

from typing_extensions import Buffer

def vectorized() -> bool: ...
def wide() -> bool: ...
def encode(
    table: Buffer,
    half: bool,
    histories: Sequence[Buffer],
    positions: Buffer,
    max_len: int,
    weights: Buffer,
    d: int,
    heads: int,
    ff: int,
    layers: int,
    eps: float,
    out: Buffer,
) -> None: ...
def matmul(x: Buffer, rows: int, K: int, panels: Buffer, N: int, out: Buffer) -> None: ...
def widen(halves: Buffer, n: int, out: Buffer, kind: int) -> bool: ...
def matmul_half(
    x: Buffer, rows: int, K: int, panels: Buffer, N: int, out: Buffer, direct: bool = ...
) -> None: ...
def softmax(scores: Buffer, rows: int, n: int) -> None: ...
def add_transitions(
    out: Buffer,
    users: int,
    n: int,
    indptr: Buffer,
    indices: Buffer,
    data: Buffer,
    items: Buffer,
    offsets: Buffer,
    decay: float,
    weight: float,
) -> None: ...
def top_k(
    scores: Buffer,
    rows: int,
    n: int,
    k: int,
    dropped: Sequence[Buffer],
    also_dropped: Sequence[Buffer] | None,
    categories: Buffer,
    codes: Sequence[int] | None,
    columns: Buffer,
    values: Buffer,
    kept: Buffer,
) -> None: ...
def top_k_hybrid(
    scores: Buffer,
    rows: int,
    n: int,
    k: int,
    dropped: Sequence[Buffer],
    also_dropped: Sequence[Buffer] | None,
    categories: Buffer,
    codes: Sequence[int] | None,
    columns: Buffer,
    values: Buffer,
    kept: Buffer,
    indptr: Buffer,
    indices: Buffer,
    data: Buffer,
    histories: Sequence[Buffer],
    history_len: int,
    decay: float,
    weight: float,
) -> None: ...
def quantize(queries: Buffer, rows: int, d: int, values: Buffer, scales: Buffer) -> None: ...
def ivf_scan(
    vectors: Buffer,
    scales: Buffer,
    items: int,
    offsets: Buffer,
    lists: int,
    queries: Buffer,
    query_scales: Buffer,
    batch: int,
    d: int,
    centroid_scores: Buffer,
    probes: int,
    count: int,
    out: Buffer,
) -> None: ...
def rescore(
    table: Buffer,
    items: int,
    d: int,
    vectors: Buffer,
    rows: int,
    candidates: Buffer,
    width: int,
    counts: Buffer,
    dropped: Sequence[Buffer],
    also_dropped: Sequence[Buffer] | None,
    categories: Buffer,
    codes: Sequence[int] | None,
    k: int,
    ids: Buffer,
    scores: Buffer,
    found: Buffer,
) -> None: ...
