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
    entries: pa.Table, bucket: int, bits: int, bands: int, max_distance: int
) -> pa.Table:
    """(query row, indexed row, its view) within `max_distance`, a query never with itself."""
    band, top = divmod(bucket, 1 << bits)
    lo, hi = band_edges(bands)[band]
    low = hi - lo - bits
    view = entries.column("view").to_numpy()
    ids = entries.column("id").to_numpy()
    codes = entries.column("code").to_numpy().astype(np.uint64)
    keys = band_keys(codes, lo, hi)
    low_mask = (1 << low) - 1
    is_q = view < 0
    table = BandTable(codes[~is_q], keys[~is_q] & low_mask, low)
    idx_ids, idx_view = ids[~is_q], view[~is_q]
    q_codes, q_keys, q_ids = codes[is_q], keys[is_q], ids[is_q]
    need = (q_keys >> low) ^ top  # the top bits a probe must flip to land here
    masks = flip_masks(hi - lo, max_distance // bands)
    mask_top, mask_low = masks >> low, masks & low_mask
    found_q, found_i = [], []
    for flip in np.unique(need):
        sel = np.flatnonzero(need == flip)
        q, t = table.probe(
            q_codes[sel], q_keys[sel] & low_mask, mask_low[mask_top == flip], max_distance
        )
        found_q.append(sel[q])
        found_i.append(t)
    q = np.concatenate(found_q) if found_q else np.zeros(0, np.int64)
    t = np.concatenate(found_i) if found_i else np.zeros(0, np.int64)
    qid, iid = q_ids[q], idx_ids[t]
    keep = qid != iid
    qid, iid, v = qid[keep], iid[keep], idx_view[t][keep]
    return pa.table(
        {"qpart": (qid >> 32).astype(np.int32), "q": qid, "i": iid, "view": v}, schema=CANDIDATES
    )
