"""The near-duplicate search of one bucket of one band (multi-index hashing, partitioned).

`route.py` sends every view's hash to the bucket named by its band value's top bits, and each
whole-image hash (the query) also to every bucket that a probe within the band's radius can
reach. Inside the bucket the table is keyed by the remaining low bits, and each query flips
only the masks whose top bits take it from its own bucket to this one: every pair that the
one-process `HammingIndex` finds is found once per band it shares, in exactly one bucket.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from openwit.pipeline.shards.dedup.hamming import BandTable, band_edges, band_keys, flip_masks

CANDIDATES = pa.schema(
    [("qpart", pa.int32()), ("q", pa.int64()), ("i", pa.int64()), ("view", pa.int8())]
)


def band_candidates(
    entries: pa.Table,
    bucket: int,
    bits: int,
    bands: int,
    radius: int,
    max_distance: int,
    table_entries: int = 1 << 18,
) -> pa.Table:
    """(query row, indexed row, its view) within `max_distance`, a query never with itself.

    The bucket is cut again in memory, by the next bits of the band value, into tables of
    about `table_entries` codes: a probe then reads a table that stays in the CPU's cache,
    so its cost does not grow with the bucket. Each query visits only the tables its probes
    can reach, with only the masks that reach each, so the probes are those of one table."""
    band, top = divmod(bucket, 1 << bits)
    lo, hi = band_edges(bands)[band]
    width = hi - lo
    view = entries.column("view").to_numpy()
    ids = entries.column("id").to_numpy()
    codes = entries.column("code").to_numpy().astype(np.uint64)
    keys = band_keys(codes, lo, hi)
    is_q = view < 0
    n_index = int((~is_q).sum())
    sub = int(np.ceil(np.log2(max(n_index, 1) / table_entries))) if n_index > table_entries else 0
    sub = min(sub, max(width - bits - 8, 0))
    shift = width - bits - sub  # each table is keyed by the band value's low `shift` bits
    rest = (1 << shift) - 1
    # the index by its prefix (bucket bits, then the sub-table's bits)
    i_order = np.argsort(keys[~is_q] >> shift, kind="stable")
    i_codes, i_keys = codes[~is_q][i_order], keys[~is_q][i_order]
    i_ids, i_view = ids[~is_q][i_order], view[~is_q][i_order]
    i_pre = i_keys >> shift
    # the queries by band value: by prefix, then by the bits a table is keyed by
    q_order = np.argsort(keys[is_q], kind="stable")
    q_codes, q_keys, q_ids = codes[is_q][q_order], keys[is_q][q_order], ids[is_q][q_order]
    q_pre = q_keys >> shift
    masks = flip_masks(width, radius)
    mask_pre, mask_rest = masks >> shift, masks & rest
    by_flip = {int(f): mask_rest[mask_pre == f] for f in np.unique(mask_pre)}
    found_q, found_i = [], []
    for u in range(1 << sub):
        target = (top << sub) | u
        a, b = np.searchsorted(i_pre, [target, target + 1])
        if a == b:
            continue
        table = BandTable(i_codes[a:b], i_keys[a:b] & rest, shift)
        for flip, m in by_flip.items():  # the queries whose prefix `flip` takes here
            qa, qb = np.searchsorted(q_pre, [target ^ flip, (target ^ flip) + 1])
            if qa == qb:
                continue
            q, t = table.probe(
                q_codes[qa:qb], q_keys[qa:qb] & rest, m, max_distance, presorted=True
            )
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
