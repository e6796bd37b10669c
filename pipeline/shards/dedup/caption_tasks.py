"""Near-duplicate captions (optional) as partitioned steps, after the image groups are linked.

    route   per scan part    each caption the image dedup left, by MinHash band slice
    pairs   per hash bucket  captions sharing a slice, confirmed by exact Jaccard
    (then dedup/link.py links the pairs among the rows, as it links images)

The candidates are MinHashLSH's (`captions.band_slices`), so the pairs are the one-process
`near_caption_pairs`', found without one index of every caption.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openwit.pipeline.shards.buckets import write_buckets
from openwit.pipeline.shards.dedup.captions import (
    CaptionDedupConfig,
    band_slices,
    confirmed_pairs,
)
from openwit.pipeline.shards.dedup.exact import LINKS
from openwit.pipeline.shards.route import printed_rows

SLICES = pa.schema(
    [
        ("bucket", pa.int32()),
        ("band", pa.int16()),
        ("slice", pa.binary()),
        ("id", pa.int64()),
        ("caption", pa.string()),
    ]
)


def route_captions(
    part: Path, number: int, dups: Path, out: Path, buckets: int, cfg: CaptionDedupConfig
) -> None:
    t, rows = printed_rows(part, ["caption"])
    ids = (np.int64(number) << 32) | rows
    lo, hi = number << 32, (number + 1) << 32
    gone = pq.read_table(dups, columns=["id"], filters=[("id", ">=", lo), ("id", "<", hi)])
    alive = ~np.isin(ids, gone.column("id").to_numpy())
    ids, captions = (
        ids[alive],
        [c for c, a in zip(t.column("caption").to_pylist(), alive, strict=True) if a],
    )
    live, slices = band_slices(captions, cfg)
    rows_out = []
    for band, values in enumerate(slices):
        for k, value in zip(live, values, strict=True):
            h = zlib.crc32(value, band) % buckets
            rows_out.append((h, band, value, int(ids[k]), captions[k]))
    cols = list(zip(*rows_out, strict=True)) if rows_out else [[]] * 5
    table = pa.table(dict(zip(SLICES.names, cols, strict=True)), schema=SLICES)
    write_buckets(table, "bucket", out)


def caption_pairs(slices: pa.Table, cfg: CaptionDedupConfig) -> pa.Table:
    groups: dict[tuple, list] = {}
    for band, value, i, caption in zip(
        *(slices.column(c).to_pylist() for c in ("band", "slice", "id", "caption")), strict=True
    ):
        groups.setdefault((band, value), []).append((i, caption))
    pairs = sorted(confirmed_pairs([g for g in groups.values() if len(g) > 1], cfg))
    a = np.array([p[0] for p in pairs], np.int64)
    b = np.array([p[1] for p in pairs], np.int64)
    return pa.table({"a": a, "b": b}, schema=LINKS)
