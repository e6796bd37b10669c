"""The first step of the partitioned decision: each scan part sends its rows where they are
judged.

Per part, three files under `_decide/`:
    rank/   id, key, url, flag (a filter drops it), area: what picks a group's survivor
            (Parquet: DuckDB reads it)
    exact/  (url or pixel hash, id) by a hash of the value: equal values meet in one bucket
    bands/  once the exact groups are known (`route_bands`), each surviving image's hashes
            by band piece (dedup/bands.py): codes that may be within the Hamming threshold
            meet in one bucket (both bucketed: buckets.py)

A row's id is (part << 32) | its row in the part, so later steps find its thumbnails again
without carrying them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.core.vocab import SUCCESS, Reason
from openwit.pipeline.shards.buckets import SUFFIX, string_buckets, write_buckets
from openwit.pipeline.shards.dedup.hamming import band_edges, band_keys, piece_edges, piece_keys
from openwit.pipeline.shards.dedup.images import DedupConfig


def band_radius(cfg: DedupConfig) -> int:
    return cfg.phash_max_distance // cfg.phash_bands if cfg.band_radius is None else cfg.band_radius


@dataclass(frozen=True)
class Layout:
    """How many buckets each partitioned step uses: from the row count, so a task holds
    about `rows_per_task` rows (or image hashes) whatever the crawl's size."""

    exact_buckets: int
    band_bits: int  # the top bits of a band piece that name its bucket (2^bits per piece)
    groups: int  # hash ranges of the final order, one sort task each

    @classmethod
    def of(cls, rows: int, views: int, rows_per_task: int, max_bits: int = 8) -> Layout:
        per = max(rows_per_task, 1)
        bits = 0  # a band bucket holds about 2 x rows_per_task hashes (16 bytes each)
        while rows * views > 2 * per << bits and bits < max_bits:
            bits += 1
        return cls(max(1, -(-rows // per)), bits, max(1, -(-rows // per)))


def cut_reasons(reason: pa.Array, score: pa.Array, cutoff: float | None) -> pa.Array:
    """The filter reason after the model-score cut: kept rows scoring below `cutoff` (a
    missing score counts as -2, below any cosine) go for `model_score`."""
    if cutoff is None:
        return reason
    low = pc.less(pc.fill_null(pc.cast(score, pa.float64()), -2.0), cutoff)
    return pc.if_else(pc.and_(pc.is_null(reason), low), Reason.MODEL_SCORE.value, reason)


def printed_rows(part: Path, columns: list[str]) -> tuple[pa.Table, np.ndarray]:
    """The part's successful rows with an image fingerprint, and their row numbers."""
    t = pq.read_table(part, columns=sorted({"status", "pixels", *columns}))
    row = np.arange(t.num_rows, dtype=np.int64)
    ok = pc.and_(pc.equal(t.column("status"), SUCCESS), pc.is_valid(t.column("pixels")))
    ok = ok.to_numpy(zero_copy_only=False)
    return t.filter(pa.array(ok)), row[ok]


def route_part(
    part: Path, number: int, out: Path, cutoff: float | None, layout: Layout, cfg: DedupConfig
) -> int:
    cols = ["key", "url", "filter_reason", "model_score", "width", "height", "phash"]
    t, rows = printed_rows(part, cols)
    ids = (np.int64(number) << 32) | rows
    reason = cut_reasons(t.column("filter_reason"), t.column("model_score"), cutoff)
    area = pc.multiply(
        pc.cast(t.column("width"), pa.int64()), pc.cast(t.column("height"), pa.int64())
    )
    rank = pa.table(
        {
            "id": ids,
            "key": t.column("key"),
            "url": t.column("url"),
            "flag": pc.is_valid(reason),
            "area": area,
        }
    )
    storage.write_parquet(rank, out / "rank" / f"{number:05d}.parquet")
    name = f"{number:05d}{SUFFIX}"
    write_buckets(_exact(t, ids, layout.exact_buckets), "bucket", out / "exact" / name)
    return t.num_rows


def route_bands(part: Path, number: int, out: Path, layout: Layout, cfg: DedupConfig) -> int:
    """The part's image hashes to their band buckets, but not those of rows an exact group
    drops (`out`/exact_of.parquet): their pairs would be discarded, and a picture copied n
    times would make n² of them. Returns how many rows it routed."""
    t, rows = printed_rows(part, ["phash"])
    ids = (np.int64(number) << 32) | rows
    lo, hi = number << 32, (number + 1) << 32
    exact_of = pq.read_table(
        out / "exact_of.parquet", columns=["v"], filters=[("v", ">=", lo), ("v", "<", hi)]
    )
    alive = ~np.isin(ids, exact_of.column("v").to_numpy())
    t, ids = t.filter(pa.array(alive)), ids[alive]
    name = f"{number:05d}{SUFFIX}"
    write_buckets(_bands(t, ids, layout.band_bits, cfg), "bucket", out / "bands" / name)
    return t.num_rows


def _exact(t: pa.Table, ids: np.ndarray, buckets: int) -> pa.Table:
    tables = []
    for kind, column in enumerate(("url", "pixels")):
        values = t.column(column).combine_chunks()
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        values = values.filter(pa.array(valid))
        tables.append(
            pa.table(
                {
                    "bucket": string_buckets(values, buckets),
                    "kind": pa.array(np.full(len(values), kind, np.int8)),
                    "value": values.cast(pa.string()),
                    "id": ids[valid],
                }
            )
        )
    return pa.concat_tables(tables)


def views_of(cfg: DedupConfig, stored: int) -> int:
    return stored if cfg.crop_views else 1


def band_pieces(cfg: DedupConfig) -> list[tuple[int, tuple[int, int], tuple[int, int]]]:
    """(band, its bit range, a piece's range within it) for every bucket group: a band
    value within `radius` bits of another equals it on one of radius + 1 pieces."""
    return [
        (b, band, piece)
        for b, band in enumerate(band_edges(cfg.phash_bands))
        for piece in piece_edges(band[1] - band[0], band_radius(cfg) + 1)
    ]


def piece_bits(cfg: DedupConfig) -> int:
    """How many of a piece's bits may name a bucket: the narrowest piece's."""
    return min(hi - lo for _, _, (lo, hi) in band_pieces(cfg))


def _bands(t: pa.Table, ids: np.ndarray, bits: int, cfg: DedupConfig) -> pa.Table:
    """Every hash (each view, and the whole image again as the query: view -1) to the bucket
    of each of its bands' pieces: the piece's group, then its top `bits`. Two hashes whose
    band values are within the radius share one piece, so they meet in one bucket."""
    if not len(ids):
        return ENTRIES.empty_table()
    flat = pc.list_flatten(t.column("phash")).to_numpy().astype(np.uint64)
    stored = len(flat) // len(ids)
    codes = flat.reshape(len(ids), stored)
    views = views_of(cfg, stored)
    index = codes[:, :views].ravel()
    index_ids = np.repeat(ids, views)
    index_view = np.tile(np.arange(views, dtype=np.int8), len(ids))
    tables = []
    for group, (_, (lo, hi), piece) in enumerate(band_pieces(cfg)):
        width = hi - lo
        for c, i, v in ((index, index_ids, index_view), (codes[:, 0], ids, np.int8(-1))):
            top = piece_keys(band_keys(c, lo, hi), width, piece) >> (width - bits)
            tables.append(_entries(group, bits, top, i, v, c))
    return pa.concat_tables(tables)


ENTRIES = pa.schema(
    [("bucket", pa.int32()), ("id", pa.int64()), ("view", pa.int8()), ("code", pa.uint64())]
)


def _entries(band: int, bits: int, top, ids, view, codes) -> pa.Table:
    bucket = (band << bits) + np.asarray(top, np.int64)
    view = np.broadcast_to(np.asarray(view, np.int8), len(ids))
    return pa.table([bucket.astype(np.int32), ids, view, codes], schema=ENTRIES)
