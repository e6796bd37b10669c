"""The near-duplicate search of one bucket (multi-index hashing, partitioned).

Two codes whose band values differ in at most r bits agree exactly on one of r + 1 pieces of
the band (pigeonhole again). `route.py` sends every hash, index and query alike, to one
bucket per piece: the piece's group and its top bits. Inside a bucket the band value is
rearranged with the piece on top, and a query probes only the values that keep the piece
and flip at most r of the other bits: every pair the one-process `HammingIndex` finds
(within r bits on a band and within the distance overall) is found here, in every bucket of
a piece it agrees on, and nothing else. No hash is copied to more buckets as the crawl grows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from openwit.pipeline.shards.dedup.hamming import (
    BandTable,
    band_keys,
    flip_masks,
    piece_keys,
)

CANDIDATES = pa.schema(
    [("qpart", pa.int32()), ("q", pa.int64()), ("i", pa.int64()), ("view", pa.int8())]
)


def band_candidates(
    entries: pa.Table,
    bucket: int,
    bits: int,
    pieces: list,
    radius: int,
    max_distance: int,
    table_entries: int = 1 << 18,
) -> pa.Table:
    """(query row, indexed row, its view) within `max_distance`, a query never with itself.
    `pieces`: route.band_pieces, the (band, band bits, piece bits) of each bucket group.

    The bucket is cut again in memory, by the next bits of the piece, into tables of about
    `table_entries` codes: a probe then reads a table that stays in the CPU's cache, so its
    cost does not grow with the bucket."""
    group, top = divmod(bucket, 1 << bits)
    _, (lo, hi), piece = pieces[group]
    width, piece_width = hi - lo, piece[1] - piece[0]
    view = entries.column("view").to_numpy()
    ids = entries.column("id").to_numpy()
    codes = entries.column("code").to_numpy().astype(np.uint64)
    keys = piece_keys(band_keys(codes, lo, hi), width, piece)
    is_q = view < 0
    n_index = int((~is_q).sum())
    sub = int(np.ceil(np.log2(max(n_index, 1) / table_entries))) if n_index > table_entries else 0
    sub = min(sub, piece_width - bits)  # the tables split on piece bits: a probe keeps them
    shift = width - bits - sub  # each table is keyed by the low `shift` bits
    # both sides sorted by key: by prefix (bucket bits, then the table's), then the rest
    i_order = np.argsort(keys[~is_q], kind="stable")
    i_codes, i_keys = codes[~is_q][i_order], keys[~is_q][i_order]
    i_ids, i_view = ids[~is_q][i_order], view[~is_q][i_order]
    q_order = np.argsort(keys[is_q], kind="stable")
    q_codes, q_keys, q_ids = codes[is_q][q_order], keys[is_q][q_order], ids[is_q][q_order]
    i_pre, q_pre = i_keys >> shift, q_keys >> shift
    rest = (1 << shift) - 1
    masks = flip_masks(width - piece_width, radius)  # never a piece bit
    found_q, found_i = [], []
    for u in range(1 << sub):
        target = (top << sub) | u
        a, b = np.searchsorted(i_pre, [target, target + 1])
        qa, qb = np.searchsorted(q_pre, [target, target + 1])
        if a == b or qa == qb:
            continue
        table = BandTable(i_codes[a:b], i_keys[a:b] & rest, shift)
        q, t = table.probe(q_codes[qa:qb], q_keys[qa:qb] & rest, masks, max_distance, True)
        found_q.append(qa + q)
        found_i.append(a + t)
    q = np.concatenate(found_q) if found_q else np.zeros(0, np.int64)
    t = np.concatenate(found_i) if found_i else np.zeros(0, np.int64)
    qid, iid = q_ids[q], i_ids[t]
    keep = qid != iid
    qid, iid, v = qid[keep], iid[keep], i_view[t][keep]
    return pa.table(
        {"qpart": (qid >> 32).astype(np.int32), "q": qid, "i": iid, "view": v}, schema=CANDIDATES
    )
