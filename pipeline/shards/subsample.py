"""`--max-samples N`: keep a uniform subsample of N of the kept rows (ablations compare arms
of equal size, so that size is not the variable).

The placement already ranks every kept row by a seeded hash (the global shuffle), so the
first N ranks are a uniform random subsample: placement files are cut at rank N, and the rows
past it are recorded as dropped (`drop_stage = subsample`, `drop_reason = max_samples`). Run
again on its own output it changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.core.vocab import Reason, Stage


def subsample(out: Path, group_counts: list[int], shard_size: int, n: int) -> list[int]:
    """Cut the placement at rank `n`; returns the new kept rows per hash range."""
    offsets = np.concatenate([[0], np.cumsum(group_counts)]).astype(np.int64)
    if offsets[-1] <= n:
        return list(group_counts)
    dropped: list[str] = []
    counts = []
    for g, count in enumerate(group_counts):
        path = out / "_placement" / f"{g:05d}.parquet"
        if not count or not path.is_file():
            counts.append(0)
            continue
        t = pq.read_table(path)
        rank = pc.add(
            pc.multiply(pc.cast(t.column("shard"), pa.int64()), shard_size),
            pc.cast(t.column("position"), pa.int64()),
        )
        keep = pc.less(rank, n)
        dropped += t.filter(pc.invert(keep)).column("key").to_pylist()
        kept = t.filter(keep)
        if kept.num_rows < t.num_rows:
            with storage.atomic_output(path) as f:
                pq.write_table(kept, f, row_group_size=shard_size)
        counts.append(kept.num_rows)
    _mark(out, pa.array(dropped, pa.string()))
    return counts


def _mark(out: Path, dropped: pa.Array) -> None:
    """Record each dropped key's fate in its decisions part."""
    if not len(dropped):
        return
    for path in sorted((out / "_decisions").glob("*.parquet")):
        t = pq.read_table(path)
        hit = pc.is_in(t.column("key"), value_set=dropped)
        if not pc.any(hit).as_py():
            continue
        stage = pc.if_else(hit, Stage.SUBSAMPLE.value, t.column("drop_stage"))
        reason = pc.if_else(hit, Reason.MAX_SAMPLES.value, t.column("drop_reason"))
        t = t.set_column(t.schema.get_field_index("drop_stage"), "drop_stage", stage)
        t = t.set_column(t.schema.get_field_index("drop_reason"), "drop_reason", reason)
        storage.write_parquet(t, path)
