"""The last steps of the partitioned decision: each row's fate, then the kept rows' places.

`decide_part` (per scan part): the drop reason of each of the part's rows (filters, then
contamination, then duplicates, as `decide.drop_reasons`), written to `_decisions/`, and
each kept row sent, with what the final shard needs of it, to the hash range of its place
in the shuffle. `assign_group` (per range): sorts its rows by that hash and, from the
number of kept rows in the ranges before it, gives each its shard and position; written to
`_placement/`, sorted, so writing a shard reads only its own rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.core.vocab import SUCCESS, Pool, Reason, Stage
from openwit.pipeline.shards.buckets import SUFFIX, read_bucket, write_buckets
from openwit.pipeline.shards.route import cut_reasons
from openwit.pipeline.shards.shuffle import WRITE_COLUMNS, order_keys

DECISIONS = pa.schema(
    [
        ("key", pa.string()),
        ("filter_reason", pa.string()),
        ("dup_kind", pa.string()),
        ("dup_of", pa.string()),
        ("contaminated_by", pa.list_(pa.string())),
        ("drop_stage", pa.string()),
        ("drop_reason", pa.string()),
    ]
)


DUPS = pa.schema([("id", pa.int64()), ("dup_kind", pa.string()), ("dup_of", pa.string())])


def group_of(order: np.ndarray, groups: int) -> np.ndarray:
    """The hash range of each order key: ranges ascend with the key."""
    return ((order >> np.uint64(32)) * np.uint64(groups) >> np.uint64(32)).astype(np.int32)


def decide_part(
    part: Path,
    number: int,
    out: Path,
    cutoff: float | None,
    dups: list[Path],
    groups: int,
    seed: int,
) -> dict:
    t = pq.read_table(
        part,
        columns=sorted(
            {"status", "filter_reason", "model_score", "contaminated_by", *WRITE_COLUMNS}
        ),
    )
    rows = np.arange(t.num_rows, dtype=np.int64)
    ok = pc.equal(t.column("status"), SUCCESS).to_numpy(zero_copy_only=False)
    t, ids = t.filter(pa.array(ok)), (np.int64(number) << 32) | rows[ok]
    lo, hi = number << 32, (number + 1) << 32
    # Image and caption duplicates, then semantic ones: each row is in one file at most.
    found = [pq.read_table(p, filters=[("id", ">=", lo), ("id", "<", hi)]) for p in dups]
    d = pa.concat_tables([f.select(["id", "dup_kind", "dup_of"]).cast(DUPS) for f in found])
    at = pc.index_in(pa.array(ids), value_set=d.column("id"))
    dup_kind, dup_of = d.column("dup_kind").take(at), d.column("dup_of").take(at)
    reason = cut_reasons(t.column("filter_reason"), t.column("model_score"), cutoff)
    contaminated = t.column("contaminated_by")
    dirty = pc.fill_null(pc.greater(pc.list_value_length(contaminated), 0), False)
    contaminated = pc.if_else(dirty, contaminated, pa.scalar(None, contaminated.type))
    filtered, duped = pc.is_valid(reason), pc.is_valid(dup_kind)
    null = pa.scalar(None, pa.string())
    balanced = pc.fill_null(pc.equal(reason, Pool.BALANCED_OUT.value), False)
    stage = pc.if_else(
        filtered,
        pc.if_else(balanced, Stage.BALANCE.value, Stage.FILTER.value),
        pc.if_else(dirty, Stage.DECONTAMINATE.value, pc.if_else(duped, Stage.DEDUP.value, null)),
    )
    why = pc.if_else(
        filtered,
        reason,
        pc.if_else(dirty, Reason.CONTAMINATED.value, pc.if_else(duped, dup_kind, null)),
    )
    decisions = pa.table(
        [t.column("key"), reason, dup_kind, dup_of, contaminated, stage, why], schema=DECISIONS
    )
    storage.write_parquet(decisions, out / "_decisions" / f"{number:05d}.parquet")
    kept = t.filter(pc.is_null(stage)).select(list(WRITE_COLUMNS))
    order = order_keys(kept.column("key").to_pylist(), seed)
    group = group_of(order, groups)
    placed = kept.append_column("order", pa.array(order)).append_column("group", pa.array(group))
    write_buckets(placed, "group", out / "_decide" / "placed" / f"{number:05d}{SUFFIX}")
    used = pc.list_flatten(contaminated).unique().to_pylist()
    return {"counts": np.bincount(group, minlength=groups).tolist(), "contaminated": used}


def assign_group(placed: list[Path], group: int, offset: int, out: Path, shard_size: int) -> None:
    """Rank the group's rows by (order key, key) from `offset` on; write their places."""
    t = read_bucket(placed, "group", group).sort_by([("order", "ascending"), ("key", "ascending")])
    rank = offset + np.arange(t.num_rows, dtype=np.int64)
    t = t.drop_columns(["order", "group"])
    t = t.append_column("shard", pa.array(rank // shard_size, pa.int32()))
    t = t.append_column("position", pa.array(rank % shard_size, pa.int32()))
    path = out / "_placement" / f"{group:05d}.parquet"
    with storage.atomic_output(path) as f:
        pq.write_table(t, f, row_group_size=shard_size)
