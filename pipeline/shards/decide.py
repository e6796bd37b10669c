"""The shards job's decision over every scanned row in one process: the reference the
partitioned tasks (`partitioned.py`) must equal, row for row, and `openwit shards
--one-process-decide`. Small steps: the model-score cut (its cutoff comes from the job,
merged over the scan's parts), duplicates, contamination, each row's drop reason, and the
kept rows' place in the final shards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.core.vocab import SUCCESS, Pool, Reason, Stage
from openwit.pipeline.shards import decontaminate, shuffle
from openwit.pipeline.shards.dedup import semantic_tasks
from openwit.pipeline.shards.dedup.captions import CaptionDedupConfig, near_caption_pairs
from openwit.pipeline.shards.dedup.images import (
    DedupConfig,
    Fingerprint,
    components,
    dedup,
    survivors,
)
from openwit.pipeline.shards.route import cut_reasons

if TYPE_CHECKING:
    from openwit.pipeline.shards.job import ShardsConfig

OVERLAP_SCHEMA = pa.schema(
    [
        ("set", pa.string()),
        ("all", pa.int64()),
        ("overlap", pa.int64()),
        ("clean", pa.int64()),
        ("overlap_share", pa.float64()),
        ("overlap_ids", pa.list_(pa.string())),
    ]
)
_COLUMNS = (
    "key",
    "url",
    "caption",
    "filter_reason",
    "pixels",
    "phash",
    "dhash",
    "thumbs",
    "width",
    "height",
    "model_score",
    "contaminated_by",
)


def _caption_dups(dups: list, rows: list[dict], rank: list, cfg: CaptionDedupConfig) -> list:
    """Mark near-duplicate captions among the rows no image check marked."""
    alive = [k for k, d in enumerate(dups) if d[0] is None]
    pairs = near_caption_pairs([rows[k]["caption"] for k in alive], cfg)
    groups = components(len(alive), np.array(pairs, dtype=np.int64).reshape(-1, 2))
    out = list(dups)
    for a, b in survivors(groups, [rank[k] for k in alive]).items():
        out[alive[a]] = ("near_caption", rows[alive[b]]["key"])
    return out


def duplicates(
    rows: list[dict], prints: list[Fingerprint], dedup_cfg: DedupConfig, cap: CaptionDedupConfig
) -> list[tuple[str | None, str | None]]:
    """(kind, key of the survivor) per fingerprinted row; survivors: a row the filters keep,
    then the largest image, then the lowest key."""
    rank = [(r["filter_reason"] is not None, -r["width"] * r["height"], r["key"]) for r in rows]
    keys, urls = [r["key"] for r in rows], [r["url"] for r in rows]
    dups = dedup(keys, urls, prints, rank, dedup_cfg)
    return _caption_dups(dups, rows, rank, cap) if cap.enabled else dups


def drop_reasons(rows: list[dict], dup_kind: list, contaminated: list) -> tuple[list, list]:
    """Each row's (stage, reason), None when kept: filters first, then contamination, then
    duplicates."""
    stage, reason = [None] * len(rows), [None] * len(rows)
    for i, r in enumerate(rows):
        if r["filter_reason"] is not None:
            balanced = r["filter_reason"] == Pool.BALANCED_OUT  # --balance (ablations)
            stage[i] = Stage.BALANCE if balanced else Stage.FILTER
            reason[i] = r["filter_reason"]
        elif contaminated[i]:
            stage[i], reason[i] = Stage.DECONTAMINATE, Reason.CONTAMINATED
        elif dup_kind[i]:
            stage[i], reason[i] = Stage.DEDUP, dup_kind[i]
    return stage, reason


def decide(
    scan: pa.Table, evals: list, cfg: ShardsConfig, score_cutoff: float | None = None
) -> tuple[pa.Table, list[dict]]:
    """Dedup the scanned rows, drop those the scan found copying an evaluation image (`evals`:
    the report's image list), and place the kept ones in the final shards."""
    scan = scan.filter(pc.equal(scan.column("status"), SUCCESS))
    reason = cut_reasons(scan.column("filter_reason"), scan.column("model_score"), score_cutoff)
    scan = scan.set_column(scan.schema.get_field_index("filter_reason"), "filter_reason", reason)
    rows = scan.select(list(_COLUMNS)).to_pylist()
    printed = [i for i, r in enumerate(rows) if r["pixels"] is not None]
    prints = [
        Fingerprint(r["pixels"], np.array(r["phash"], np.uint64), r["dhash"], r["thumbs"])
        for r in (rows[i] for i in printed)
    ]
    dups = duplicates([rows[i] for i in printed], prints, cfg.dedup, cfg.captions)
    # Each scan task matched its own rows against the evaluation images.
    contaminated = [r["contaminated_by"] or None for r in rows]
    overlap = decontaminate.overlap_report(evals, {e for c in contaminated if c for e in c})
    n = len(rows)
    dup_kind, dup_of = [None] * n, [None] * n
    for k, i in enumerate(printed):
        dup_kind[i], dup_of[i] = dups[k]
    stage, reason = drop_reasons(rows, dup_kind, contaminated)
    if cfg.semdedup.enabled:  # among the rows every other step kept
        _semantic(scan, rows, dup_kind, dup_of, stage, reason, cfg, score_cutoff)
    kept = [i for i in range(n) if reason[i] is None]
    shard, pos = shuffle.assign([rows[i]["key"] for i in kept], cfg.seed, cfg.shard_size)
    shard_of, pos_of = [None] * n, [None] * n
    for k, i in enumerate(kept):
        shard_of[i], pos_of[i] = int(shard[k]), int(pos[k])
    table = pa.table(
        {
            "key": [r["key"] for r in rows],
            "filter_reason": [r["filter_reason"] for r in rows],
            "dup_kind": pa.array(dup_kind, pa.string()),
            "dup_of": pa.array(dup_of, pa.string()),
            "contaminated_by": pa.array(contaminated, pa.list_(pa.string())),
            "drop_stage": pa.array(stage, pa.string()),
            "drop_reason": pa.array(reason, pa.string()),
            "shard": pa.array(shard_of, pa.int32()),
            "position": pa.array(pos_of, pa.int32()),
        }
    )
    return table, overlap


def _semantic(scan, rows, dup_kind, dup_of, stage, reason, cfg, cutoff) -> None:
    ids = scan.column("_id").to_numpy()
    dup_ids = ids[[k is not None for k in dup_kind]]
    parts = sorted({Path(p) for p in scan.column("_part").to_pylist()})
    found = semantic_tasks.reference(parts, cfg.crawl, cutoff, dup_ids, cfg.semdedup)
    at = {
        int(i): of
        for i, of in zip(
            found.column("id").to_numpy(), found.column("dup_of").to_pylist(), strict=True
        )
    }
    for i, row_id in enumerate(ids):
        if int(row_id) in at:
            assert reason[i] is None, "semantic dedup saw a row another step dropped"
            dup_kind[i], dup_of[i] = semantic_tasks.KIND, at[int(row_id)]
            stage[i], reason[i] = Stage.DEDUP, semantic_tasks.KIND


def with_ids(parts: list[Path]) -> pa.Table:
    """The scan parts as one table, each row with its id (part number << 32 | row) and part."""
    tables = []
    for p in parts:
        t = pq.read_table(p)
        ids = (np.int64(int(p.stem)) << 32) | np.arange(t.num_rows, dtype=np.int64)
        t = t.append_column("_id", pa.array(ids)).append_column(
            "_part", pa.array([str(p)] * t.num_rows)
        )
        tables.append(t)
    return pa.concat_tables(tables)


def write_reference(
    cfg: ShardsConfig, out: Path, parts: list[Path], evals: list, cutoff: float | None
) -> dict:
    """The reference: every scanned row in this process (`decide` above), written as the
    partitioned path writes it (one decisions part, one placement range)."""
    decisions, _ = decide(with_ids(parts), evals, cfg, cutoff)
    kept = decisions.filter(pc.is_valid(decisions.column("shard")))
    cols = list(shuffle.WRITE_COLUMNS)
    scan = pq.read_table(parts, columns=cols)
    scan = scan.filter(pc.is_in(scan.column("key"), kept.column("key")))
    at = pc.index_in(kept.column("key"), scan.column("key"))
    placement = scan.take(at).append_column("shard", kept.column("shard"))
    placement = placement.append_column("position", kept.column("position"))
    placement = placement.sort_by([("shard", "ascending"), ("position", "ascending")])
    storage.write_parquet(
        decisions.drop_columns(["shard", "position"]), out / "_decisions" / "00000.parquet"
    )
    with storage.atomic_output(out / "_placement" / "00000.parquet") as f:
        pq.write_table(placement, f, row_group_size=cfg.shard_size)
    dirty = decisions.column("contaminated_by").combine_chunks().flatten().unique()
    return {"group_counts": [kept.num_rows], "contaminated": dirty.to_pylist()}
