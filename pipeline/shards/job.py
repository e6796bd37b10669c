"""The shards job: crawl shards → scan → decide → final shards → tables and report.

    out/_scan/00003.parquet   crawl shard 3's rows: language, filter reason, fingerprints,
                              the evaluation images each copies (matched in the scan task
                              against one broadcast copy of their fingerprints), and where
                              each image and caption lies in the crawl's tar
    out/_decisions/*.parquet  every scanned row: dup_of, contaminated_by, drop reason
    out/_placement/*.parquet  every kept sample's final shard and position, by hash range
    out/_decide/              the partitioned decision's scratch tables (partitioned.py),
                              removed once _placement/_decided.json records its outcome
    out/00000.tar …           final WebDataset shards (seeded global shuffle), sizes.json
    out/candidates.parquet    every candidate of the crawl with its fate (pipeline.candidates)
    out/contamination.parquet CLIP's overlap report per evaluation set
    out/report.html, out/_config.json, out/_summary.json (written last: the job is complete)
    out/ATTRIBUTION.md        the sources and licences of a sandbox crawl's art, copied

Every step is a set of parallel tasks (Ray): scan, the score quantile, the decision
(`partitioned.py`: routing, dedup, drop reasons, placement; the driver sums a few numbers
per task) and write. Each output is written under a temporary name and renamed, and each
task skips what exists, so a job killed at any point and run again ends identical.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core import jobs, storage
from openwit.core.executor import Shared, get_shared
from openwit.core.io import atomic_write_text
from openwit.core.vocab import SUCCESS, Status
from openwit.pipeline.shards import (
    candidates,
    decontaminate,
    partitioned,
    quantile,
    report,
    shuffle,
    subsample,
)
from openwit.pipeline.shards.decide import OVERLAP_SCHEMA, write_reference
from openwit.pipeline.shards.dedup.captions import CaptionDedupConfig
from openwit.pipeline.shards.dedup.images import DedupConfig
from openwit.pipeline.shards.dedup.semantic import SemDedupConfig
from openwit.pipeline.shards.scan import EMBEDDINGS, SCAN_COLUMNS, ScanConfig, scan_shard


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
    semdedup: SemDedupConfig = field(default_factory=SemDedupConfig)  # off unless a threshold
    partitioned: bool = True  # the decision as partitioned tasks; False: in one process
    rows_per_task: int = 2_000_000  # how many rows (or image hashes) a decision task holds
    decide_memory: str | None = None  # DuckDB's memory limit in the link task, e.g. 4GB
    decontaminate: bool = True  # False: no evaluation sets, not even the sandbox's
    max_samples: int | None = None  # keep a uniform subsample of at most this many

    def __post_init__(self) -> None:
        self.semdedup.check_model()
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"--max-samples {self.max_samples}: give >= 1")
        if self.scan.balance_t is not None and self.scan.balance_t < 1:
            raise ValueError(f"--balance {self.scan.balance_t}: give a cap >= 1 per entry")


ShardsConfigMismatch = jobs.ConfigMismatch


def crawl_shards(crawl: str) -> list[int]:
    return sorted(int(p.name[:5]) for p in Path(crawl).glob("[0-9]*_stats.json"))


@dataclass(frozen=True)
class ScanTask:
    out: str
    crawl: str
    shard: int  # the crawl shard this task scans
    scan: ScanConfig
    dedup: DedupConfig  # the match test, also for copies of evaluation images
    evals: Shared | None  # every evaluation image's fingerprint, one copy per worker
    balance: Shared | None = None  # --balance: each entry's keep probability over the pool


@dataclass(frozen=True)
class WriteTask:
    out: str
    crawl: str
    shard: int  # the final shard this task writes
    placement: list[str]  # the placement tables that hold its rows


def scan_task(spec: ScanTask) -> dict:
    out, sid = Path(spec.out), spec.shard
    path = out / "_scan" / f"{sid:05d}.parquet"
    if path.is_file():
        return {"shard": sid, "error": pq.read_metadata(path).metadata.get(b"error", b"").decode()}
    base = f"{spec.crawl}/{sid:05d}"
    try:
        evals = get_shared(spec.evals) if spec.evals is not None else None
        p = get_shared(spec.balance) if spec.balance is not None else None
        table, error, embeddings = scan_shard(
            f"{base}.parquet", f"{base}.tar", sid, spec.scan, evals, spec.dedup, p
        )
    except (OSError, pa.ArrowInvalid) as e:  # the crawl's own table is unreadable: skip it
        return {"shard": sid, "error": f"{base}.parquet: {e}", "skipped": True}
    if embeddings is not None:  # before the part: a written part means its scan is whole
        storage.write_parquet(embeddings, out / "_scan" / EMBEDDINGS / f"{sid:05d}.parquet")
    table = table.replace_schema_metadata({"error": error or ""})
    storage.write_parquet(table, path)
    return {"shard": sid, "error": error or ""}


@dataclass(frozen=True)
class ScoreCountTask:
    part: str  # a _scan part
    bucket: int | None  # quantile.counts' pass: None, or the bucket to count inside


def score_count_task(spec: ScoreCountTask) -> np.ndarray:
    """The part's counts of the scores the top-k% cut ranks: rows the filters kept."""
    t = pq.read_table(spec.part, columns=["status", "filter_reason", "model_score"])
    ranked = pc.and_(
        pc.and_(pc.equal(t.column("status"), SUCCESS), pc.is_null(t.column("filter_reason"))),
        pc.is_valid(t.column("model_score")),
    )
    return quantile.counts(t.column("model_score").filter(ranked).to_numpy(), spec.bucket)


def score_cutoff(parts: list[Path], executor, percent: float) -> float:
    """Where the best `percent`% of the crawl's model scores begin, exact, from counts merged
    over the scan's parts (never every score in one place)."""

    def count_parts(bucket: int | None) -> np.ndarray:
        tasks = [ScoreCountTask(str(p), bucket) for p in parts]
        return sum(c for _, c in executor.map(score_count_task, tasks, "score quantile"))

    cutoff = quantile.quantile(count_parts, 1 - percent / 100)
    return 0.0 if cutoff is None else cutoff


def balance_probabilities(crawl: str, t: int) -> np.ndarray:
    """Each entry's keep probability, min(1, t / count), counted over the crawl's pool (every
    matched pair, fetched or not), as the crawl's own balancing counts."""
    from openwit.pipeline.crawl.balance import probabilities
    from openwit.pipeline.crawl.match import entry_counts

    counts = np.zeros(0, np.int64)
    for part in sorted(Path(crawl, "_pool").glob("*.parquet")):
        cols = [c for c in ("matched", "optout") if c in pq.read_schema(part).names]
        table = pq.read_table(part, columns=cols)
        flat = pc.list_flatten(table.column("matched")).to_numpy(zero_copy_only=False)
        c = entry_counts(table, int(flat.max()) + 1 if len(flat) else 0)
        counts = np.pad(counts, (0, max(0, len(c) - len(counts))))
        counts[: len(c)] += c
    return probabilities(counts, t)


def write_task(spec: WriteTask) -> dict:
    path, placement = shuffle.shard_path(spec.out, spec.shard), [Path(p) for p in spec.placement]
    if path.is_file():
        rows = pq.read_table(placement, columns=["key"], filters=[("shard", "=", spec.shard)])
        return {"shard": spec.shard, "count": rows.num_rows}
    n = shuffle.write_placed_shard(spec.out, spec.shard, placement, spec.crawl)
    return {"shard": spec.shard, "count": n}


def _check_config(cfg: ShardsConfig, out: Path, crawl_summary: dict) -> None:
    # The scan's columns too: a folder half-scanned by a version with other columns is refused
    # rather than finished with parts that lack what the decision reads.
    scan_columns = [f.name for f in SCAN_COLUMNS]
    fingerprint = {"config": asdict(cfg), "crawl": crawl_summary, "scan_columns": scan_columns}
    jobs.claim_output(out, json.loads(json.dumps(fingerprint, default=str)), "shards")


def run(cfg: ShardsConfig, make_executor) -> dict:
    """Run (or finish) the job; returns the summary also written to `_summary.json`.

    A remote `out` (s3://…) is written in a local staging folder, then published whole. A
    crawl of the sandbox (its `_config.json` says so) gives the evaluation sets to
    decontaminate against, when none are given, and the shards are audited against its truth.
    """
    crawl = Path(cfg.crawl)
    crawl_summary = jobs.read_summary(crawl)
    if crawl_summary is None:
        raise FileNotFoundError(
            f"{crawl} holds no finished crawl; run `make crawl` (or `openwit crawl`) first"
        )
    crawl_cfg = json.loads((crawl / jobs.CONFIG).read_text())["config"]
    sandbox = Path(crawl_cfg["sandbox"]) if crawl_cfg.get("sandbox") else None
    if not cfg.decontaminate:
        cfg = replace(cfg, eval_dir=None)
    elif cfg.eval_dir is None and sandbox is not None and (sandbox / "eval").is_dir():
        cfg = replace(cfg, eval_dir=str(sandbox / "eval"))
    if cfg.queries is None:
        cfg = replace(cfg, queries=crawl_cfg.get("queries"))
    url, out = cfg.out, Path(cfg.out)
    if storage.is_remote(url):  # work locally, then publish the finished folder
        out = jobs.staging_dir(url)
        jobs.fetch_markers(url, out)
        cfg = replace(cfg, out=str(out))
    _check_config(cfg, out, crawl_summary)
    if (done := jobs.read_summary(out)) is not None:
        summary = {**done, "already_complete": True}
    else:
        jobs.clean_temporaries(out)
        executor = make_executor()
        try:
            summary = _run(cfg, out, executor)
        finally:
            executor.shutdown()
        if sandbox is not None and (sandbox / "truth").is_dir():
            from openwit.pipeline.sandbox.audit_shards import audit_shards

            summary["sandbox_audit"] = audit_shards(out, sandbox)
        if sandbox is not None and (sandbox / jobs.ATTRIBUTION).is_file():
            # The art's licences (CC-BY, CC-BY-SA, …) travel with the shards that hold it.
            text = (sandbox / jobs.ATTRIBUTION).read_text()
            atomic_write_text(out / jobs.ATTRIBUTION, text)
        jobs.write_summary(out, summary)
    # Publish unless the remote copy is whole already: an upload cut short is finished here.
    if out != Path(url) and not storage.exists(f"{url.rstrip('/')}/{jobs.SUMMARY}"):
        summary["published"] = {"url": url, "files": jobs.publish(out, url), "staging": str(out)}
    return summary


def _run(cfg: ShardsConfig, out: Path, executor) -> dict:
    timings: dict[str, float] = {}
    steps: dict[str, float] = {}  # the partitioned decision's steps, when it ran here
    model_load = 0.0  # of which the semantic dedup embedder's load
    t0 = time.time()
    evals = decontaminate.eval_images(cfg.eval_dir) if cfg.eval_dir else []
    shards = crawl_shards(cfg.crawl)
    pending = [s for s in shards if not (out / "_scan" / f"{s:05d}.parquet").exists()]
    shared = None
    if evals and pending:  # fingerprinted once here, matched inside every scan task
        eval_set = decontaminate.EvalSet.of(evals, decontaminate.fingerprint_evals(evals))
        shared = executor.put(f"evals-{eval_set.digest}", eval_set)
    balance = None
    if cfg.scan.balance_t is not None:  # MetaCLIP's rule over the crawl's whole pool
        p = balance_probabilities(cfg.crawl, cfg.scan.balance_t)
        balance = executor.put(f"balance-{cfg.scan.balance_t}", p)
    specs = [ScanTask(str(out), cfg.crawl, s, cfg.scan, cfg.dedup, shared, balance) for s in shards]
    scanned = [res for _, res in executor.map(scan_task, specs, "scan")]
    errors = sorted((r for r in scanned if r["error"]), key=lambda r: r["shard"])
    timings["scan"] = time.time() - t0

    t0 = time.time()
    parts = sorted((out / "_scan").glob("*.parquet"))
    if not parts:
        raise ValueError(
            f"{cfg.crawl}: no readable crawl shard ({'; '.join(e['error'] for e in errors)})"
        )
    placed_path = out / "_placement" / "_decided.json"
    if placed_path.is_file():  # decided by an earlier run that stopped later on
        placed = json.loads(placed_path.read_text())
    else:
        percent = cfg.scan.model_score.top_percent
        cutoff = score_cutoff(parts, executor, percent) if percent is not None else None
        if cfg.partitioned:
            placed = partitioned.decide(
                parts,
                out,
                cfg.dedup,
                cutoff,
                executor,
                cfg.seed,
                cfg.shard_size,
                cfg.rows_per_task,
                cfg.decide_memory,
                cfg.captions,
                cfg.semdedup,
                cfg.crawl,
            )
            steps = placed["seconds"]
            timings["semdedup"] = sum(v for k, v in steps.items() if k.startswith("sem_"))
            model_load = placed["model_load"]
        else:  # the reference: every scanned row in this process
            placed = write_reference(cfg, out, parts, evals, cutoff)
        placed = {k: placed[k] for k in ("group_counts", "contaminated")}
        if cfg.max_samples is not None:
            placed["group_counts"] = subsample.subsample(
                out, placed["group_counts"], cfg.shard_size, cfg.max_samples
            )
        atomic_write_text(placed_path, json.dumps(placed))
        # The decision's scratch (about 500 bytes a row) goes once its outcome is written.
        shutil.rmtree(out / "_decide", ignore_errors=True)
    overlap = decontaminate.overlap_report(evals, set(placed["contaminated"]))
    overlap_table = pa.Table.from_pylist(overlap, schema=OVERLAP_SCHEMA)
    storage.write_parquet(overlap_table, out / "contamination.parquet")
    timings["decide"] = time.time() - t0

    t0 = time.time()
    files = partitioned.placement_files(out, placed["group_counts"], cfg.shard_size)
    write_specs = [
        WriteTask(str(out), cfg.crawl, s, [str(f) for f in fs]) for s, fs in files.items()
    ]
    counts = {r["shard"]: r["count"] for _, r in executor.map(write_task, write_specs, "write")}
    shuffle.write_sizes(out, counts)
    timings["write"] = time.time() - t0

    t0 = time.time()
    outcomes = candidates.build(cfg.crawl, out)
    timings["tables"] = time.time() - t0
    summary = _summary(outcomes, counts, errors, timings)
    if steps:
        summary["decide_steps"] = steps
    if cfg.semdedup.enabled and steps:
        summary["semdedup_model_load"] = model_load  # seconds, part of seconds.semdedup
    t0 = time.time()
    report.write(out, cfg.queries)
    summary["seconds"]["report"] = round(time.time() - t0, 2)
    return summary


def _summary(outcomes: dict[str, int], counts: dict, errors: list, timings: dict) -> dict:
    return {
        "candidates": sum(outcomes.values()),
        str(Status.KEPT): sum(counts.values()),
        "shards": len(counts),
        "outcomes": dict(sorted(outcomes.items())),
        "errors": [r["error"] for r in errors],
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
