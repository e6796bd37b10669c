"""The shards job: crawl shards → scan → decide → final shards → tables and report.

    out/_scan/00003.parquet   crawl shard 3's rows: language, filter reason, fingerprints,
                              where each image and caption lies in the crawl's tar
    out/_decisions.parquet    every scanned row: dup_of, contaminated_by, drop reason, and
                              the final shard and position of each kept sample
    out/00000.tar …           final WebDataset shards (seeded global shuffle), sizes.json
    out/candidates.parquet    every candidate of the crawl with its fate (pipeline.candidates)
    out/contamination.parquet CLIP's overlap report per evaluation set
    out/report.html, out/_config.json, out/_summary.json (written last: the job is complete)

Scan and write are parallel tasks (Ray); the decision needs every fingerprint at once and
runs on the driver. Each output is written under a temporary name and renamed, and each
stage skips what exists, so a job killed at any point and run again ends identical.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import candidates, decontaminate, report, shuffle, storage
from pipeline.caption_dedup import CaptionDedupConfig, near_caption_pairs
from pipeline.dedup import DedupConfig, Fingerprint, components, dedup, survivors
from pipeline.model_score import top_percent_cutoff
from pipeline.scan import ScanConfig, scan_shard


@dataclass(frozen=True)
class ShardsConfig:
    crawl: str = "data/crawl"
    out: str = "data/shards"
    eval_dir: str | None = None  # evaluation image folders to decontaminate against
    queries: str | None = None  # the query list, for entry names in the views and report
    shard_size: int = 1000
    seed: int = 0
    scan: ScanConfig = field(default_factory=ScanConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    captions: CaptionDedupConfig = field(default_factory=CaptionDedupConfig)


ShardsConfigMismatch = storage.ConfigMismatch


def crawl_shards(crawl: str) -> list[int]:
    return sorted(int(p.name[:5]) for p in Path(crawl).glob("[0-9]*_stats.json"))


def scan_task(spec: dict) -> dict:
    out, sid = Path(spec["out"]), spec["shard"]
    path = out / "_scan" / f"{sid:05d}.parquet"
    if path.is_file():
        return {"shard": sid, "error": pq.read_metadata(path).metadata.get(b"error", b"").decode()}
    base = f"{spec['crawl']}/{sid:05d}"
    try:
        table, error = scan_shard(f"{base}.parquet", f"{base}.tar", sid, spec["scan"])
    except (OSError, pa.ArrowInvalid) as e:  # the crawl's own table is unreadable: skip it
        return {"shard": sid, "error": f"{base}.parquet: {e}", "skipped": True}
    table = table.replace_schema_metadata({"error": error or ""})
    storage.write_parquet(table, path)
    return {"shard": sid, "error": error or ""}


def write_task(spec: dict) -> dict:
    path = shuffle.shard_path(spec["out"], spec["shard"])
    if not path.is_file():
        shuffle.write_final_shard(spec["out"], spec["shard"], spec["samples"], spec["crawl"])
    return {"shard": spec["shard"], "count": len(spec["samples"])}


def _check_config(cfg: ShardsConfig, out: Path, crawl_summary: dict) -> None:
    fingerprint = {"config": asdict(cfg), "crawl": crawl_summary}
    storage.claim_output(out, json.loads(json.dumps(fingerprint, default=str)), "shards")


def run(cfg: ShardsConfig, make_executor) -> dict:
    """Run (or finish) the job; returns the summary also written to `_summary.json`."""
    out, crawl = Path(cfg.out), Path(cfg.crawl)
    if not (crawl / "_summary.json").is_file():
        raise FileNotFoundError(f"{crawl} holds no finished crawl; run `make crawl` first")
    _check_config(cfg, out, json.loads((crawl / "_summary.json").read_text()))
    if (out / "_summary.json").is_file():
        return {**json.loads((out / "_summary.json").read_text()), "already_complete": True}
    storage.clean_temporaries(out)
    executor = make_executor()
    try:
        return _run(cfg, out, executor)
    finally:
        executor.shutdown()


def _run(cfg: ShardsConfig, out: Path, executor) -> dict:
    timings: dict[str, float] = {}
    t0 = time.time()
    specs = [
        {"out": str(out), "crawl": cfg.crawl, "shard": s, "scan": cfg.scan}
        for s in crawl_shards(cfg.crawl)
    ]
    scanned = [res for _, res in executor.map(scan_task, specs, "scan")]
    errors = sorted((r for r in scanned if r["error"]), key=lambda r: r["shard"])
    timings["scan"] = time.time() - t0

    t0 = time.time()
    parts = sorted((out / "_scan").glob("*.parquet"))
    if not parts:
        raise ValueError(
            f"{cfg.crawl}: no readable crawl shard ({'; '.join(e['error'] for e in errors)})"
        )
    decisions_path = out / "_decisions.parquet"
    evals = decontaminate.eval_images(cfg.eval_dir) if cfg.eval_dir else []
    if not decisions_path.is_file():
        decisions, overlap = decide(pq.read_table(parts), evals, cfg)
        overlap_table = pa.Table.from_pylist(overlap, schema=OVERLAP_SCHEMA)
        storage.write_parquet(overlap_table, out / "contamination.parquet")
        storage.write_parquet(decisions, decisions_path)
    decisions = pq.read_table(decisions_path)
    timings["decide"] = time.time() - t0

    t0 = time.time()
    kept = decisions.filter(pc.is_valid(decisions.column("shard")))
    write_specs = _write_specs(cfg, out, kept)
    counts = {r["shard"]: r["count"] for _, r in executor.map(write_task, write_specs, "write")}
    shuffle.write_sizes(out, counts)
    timings["write"] = time.time() - t0

    t0 = time.time()
    table = candidates.build(cfg.crawl, out)
    timings["tables"] = time.time() - t0
    summary = _summary(table, counts, errors, timings)
    t0 = time.time()
    report.write(out, cfg.queries)
    summary["seconds"]["report"] = round(time.time() - t0, 2)
    storage.atomic_write_text(out / "_summary.json", json.dumps(summary, indent=2))
    return summary


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


def _caption_dups(dups: list, rows: list[dict], rank: list, cfg: CaptionDedupConfig) -> list:
    """Mark near-duplicate captions among the rows no image check marked."""
    alive = [k for k, d in enumerate(dups) if d[0] is None]
    pairs = near_caption_pairs([rows[k]["caption"] for k in alive], cfg)
    groups = components(len(alive), np.array(pairs, dtype=np.int64).reshape(-1, 2))
    out = list(dups)
    for a, b in survivors(groups, [rank[k] for k in alive]).items():
        out[alive[a]] = ("near_caption", rows[alive[b]]["key"])
    return out


def decide(scan: pa.Table, evals: list, cfg: ShardsConfig) -> tuple[pa.Table, list[dict]]:
    """Dedup and decontaminate the scanned rows; place the kept ones in the final shards."""
    scan = scan.filter(pc.equal(scan.column("status"), "success"))
    rows = scan.select(
        [
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
        ]
    ).to_pylist()
    if cfg.scan.model_score.top_percent is not None:  # the best k% of the whole crawl
        scored = [
            r["model_score"]
            for r in rows
            if r["filter_reason"] is None and r["model_score"] is not None
        ]
        cutoff = top_percent_cutoff(scored, cfg.scan.model_score.top_percent)
        for r in rows:
            score = r["model_score"] if r["model_score"] is not None else -2.0
            if r["filter_reason"] is None and score < cutoff:
                r["filter_reason"] = "model_score"
    printed = [i for i, r in enumerate(rows) if r["pixels"] is not None]
    prints = [
        Fingerprint(r["pixels"], np.array(r["phash"], np.uint64), r["dhash"], r["thumbs"])
        for r in (rows[i] for i in printed)
    ]
    rank = [
        (
            rows[i]["filter_reason"] is not None,
            -rows[i]["width"] * rows[i]["height"],
            rows[i]["key"],
        )
        for i in printed
    ]
    dups = dedup(
        [rows[i]["key"] for i in printed],
        [rows[i]["url"] for i in printed],
        prints,
        rank,
        cfg.dedup,
    )
    if cfg.captions.enabled:
        dups = _caption_dups(dups, [rows[i] for i in printed], rank, cfg.captions)
    eval_prints = decontaminate.fingerprint_evals(evals)
    copies = decontaminate.find_copies(prints, eval_prints, cfg.dedup)
    overlap = decontaminate.overlap_report(evals, copies)
    n = len(rows)
    dup_kind, dup_of, contaminated = [None] * n, [None] * n, [None] * n
    for k, i in enumerate(printed):
        dup_kind[i], dup_of[i] = dups[k]
        if k in copies:
            contaminated[i] = [evals[j].eval_id for j in copies[k]]
    stage, reason = [None] * n, [None] * n
    for i, r in enumerate(rows):
        if r["filter_reason"] is not None:
            stage[i], reason[i] = "filter", r["filter_reason"]
        elif contaminated[i]:
            stage[i], reason[i] = "decontaminate", "contaminated"
        elif dup_kind[i]:
            stage[i], reason[i] = "dedup", dup_kind[i]
    kept = [i for i in range(n) if reason[i] is None]
    shard, pos = shuffle.assign(len(kept), cfg.seed, cfg.shard_size)
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


_META = (
    "key",
    "url",
    "caption",
    "page_url",
    "matched",
    "width",
    "height",
    "original_width",
    "original_height",
    "sha256",
    "lang",
    "lang_score",
    "crawl_shard",
)


def _write_specs(cfg: ShardsConfig, out: Path, kept: pa.Table) -> list[dict]:
    cols = list(_META) + [
        "image_ext",
        "image_offset",
        "image_size",
        "text_offset",
        "text_size",
        "phash",
        "dhash",
    ]
    scan = pq.read_table(sorted((out / "_scan").glob("*.parquet")), columns=cols)
    by_key = {
        r["key"]: r
        for r in scan.filter(pc.is_in(scan.column("key"), kept.column("key"))).to_pylist()
    }
    shards: dict[int, list] = {}
    for key, s, p in zip(
        *(kept.column(c).to_pylist() for c in ("key", "shard", "position")), strict=True
    ):
        r = by_key[key]
        meta = {k: r[k] for k in _META}
        meta.update(phash=f"{r['phash'][0]:016x}", dhash=f"{r['dhash']:016x}", shard=s)
        shards.setdefault(s, []).append((p, {**r, "meta": meta}))
    return [
        {
            "out": str(out),
            "crawl": cfg.crawl,
            "shard": s,
            "samples": [x for _, x in sorted(items, key=lambda t: t[0])],
        }
        for s, items in sorted(shards.items())
    ]


def _summary(table: pa.Table, counts: dict, errors: list, timings: dict) -> dict:
    status = table.group_by(["drop_stage", "drop_reason"]).aggregate([("pair_id", "count")])
    drops = {
        f"{s or 'kept'}: {r}" if s else "kept": n
        for s, r, n in zip(
            *(status.column(c).to_pylist() for c in ("drop_stage", "drop_reason", "pair_id_count")),
            strict=True,
        )
    }
    return {
        "candidates": table.num_rows,
        "kept": sum(counts.values()),
        "shards": len(counts),
        "outcomes": dict(sorted(drops.items())),
        "errors": [r["error"] for r in errors],
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
