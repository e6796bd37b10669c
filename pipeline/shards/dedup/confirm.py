"""Confirm the near-duplicate candidates by their thumbnails, in two hops over the scan parts.

A candidate pair (query q's whole image, row i's view) came from the hashes alone. The
thumbnails stay where the scan wrote them: hop one, per part, attaches the whole-image
thumbnail of each query that lives in the part and sends the pair on to the part of i; hop
two, per part, compares it with i's view there and keeps the pairs that match. Only pairs
travel, never a part's thumbnails.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openwit.pipeline.shards.buckets import row_of
from openwit.pipeline.shards.dedup.images import (
    THUMB_BYTES,
    DedupConfig,
    normalise,
    thumb_rms,
)

HOP = pa.schema(
    [
        ("ipart", pa.int32()),
        ("q", pa.int64()),
        ("i", pa.int64()),
        ("view", pa.int8()),
        ("qthumb", pa.binary(THUMB_BYTES)),
    ]
)
PAIRS = pa.schema([("a", pa.int64()), ("b", pa.int64())])


def view_thumbs(part: str, rows: np.ndarray, views: np.ndarray) -> np.ndarray:
    """(n, 432) uint8: view `views[k]` of the part's row `rows[k]`."""
    if not len(rows):
        return np.zeros((0, THUMB_BYTES), np.uint8)
    col = pq.read_table(part, columns=["thumbs"]).column("thumbs").combine_chunks()
    col = col.cast(pa.large_binary())
    offsets = np.frombuffer(col.buffers()[1], np.int64)[col.offset : col.offset + len(col) + 1]
    data = np.frombuffer(col.buffers()[2], np.uint8)
    start = offsets[rows] + views.astype(np.int64) * THUMB_BYTES
    return data[start[:, None] + np.arange(THUMB_BYTES)]


def attach_query_thumbs(candidates: pa.Table, part: str) -> pa.Table:
    """Hop one: the part's queries' whole-image thumbnails on each of their pairs."""
    q = candidates.column("q").to_numpy()
    i = candidates.column("i").to_numpy()
    v = candidates.column("view").to_numpy()
    if len(q):  # one pair found by several bands is judged once
        _, first = np.unique(np.stack([q, i, v.astype(np.int64)], 1), axis=0, return_index=True)
        q, i, v = q[first], i[first], v[first]
    thumbs = view_thumbs(part, row_of(q), np.zeros(len(q), np.int8))
    return pa.table(
        {
            "ipart": (i >> 32).astype(np.int32),
            "q": q,
            "i": i,
            "view": v,
            "qthumb": pa.array(list(map(bytes, thumbs)), pa.binary(THUMB_BYTES)),
        },
        schema=HOP,
    )


def confirm_pairs(hops: pa.Table, part: str, cfg: DedupConfig) -> pa.Table:
    """Hop two: the pairs whose thumbnails agree, as (a, b) with a < b."""
    q, i = hops.column("q").to_numpy(), hops.column("i").to_numpy()
    v = hops.column("view").to_numpy()
    q_thumb = np.frombuffer(b"".join(hops.column("qthumb").to_pylist()), np.uint8).reshape(
        len(q), THUMB_BYTES
    )
    i_thumb = view_thumbs(part, row_of(i), v)
    ok = thumb_rms(normalise(q_thumb), normalise(i_thumb)) <= cfg.thumb_max_rms
    pairs = np.sort(np.stack([q[ok], i[ok]], 1), axis=1)
    pairs = np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)
    return pa.table({"a": pairs[:, 0], "b": pairs[:, 1]}, schema=PAIRS)
