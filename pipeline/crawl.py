"""The crawl job: harvest+match → balance → robots → download, each stage a set of tasks.

    out/_harvest/00003.parquet   pairs of input file 3 with their matched entry ids
    out/_pool/00003.parquet      the same rows with status: no_match | balanced_out | selected
    out/_robots.parquet          each origin's robots.txt, fetched once
    out/00012.tar/.parquet/_stats.json   download shards (img2dataset's layout)
    out/_config.json, out/_summary.json

Every task writes under temporary names and renames, and skips output that exists, so a
crawl killed at any point and run again finishes the rest and ends with the same keys and
statuses as an uninterrupted run. Entry counts are summed over the whole pool before any
pair is balanced.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import storage, writer
from pipeline.balance import BalanceConfig, balance_table, probabilities
from pipeline.download import SCHEMA as SHARD_SCHEMA
from pipeline.download import DownloadConfig, download_rows
from pipeline.executor import get_shared
from pipeline.fetch import Fetcher
from pipeline.harvest import HarvestConfig, harvest_url_list, harvest_warc
from pipeline.match import entry_counts, match_table
from pipeline.robots import RobotsCache, fetch_robots, origin
from queries.match import Matcher


@dataclass(frozen=True)
class CrawlConfig:
    inputs: tuple[str, ...]
    queries: str = "data/queries"
    out: str = "data/crawl"
    input_kind: str = "warc"  # "warc", or "urls": Parquet/CSV/JSONL url lists
    url_col: str = "url"
    caption_col: str = "caption"
    shard_size: int = 1000
    harvest: HarvestConfig = field(default_factory=HarvestConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    download: DownloadConfig = field(default_factory=DownloadConfig)
    # What the inputs hold beyond their paths (the sandbox's build): a rebuilt sandbox serves
    # other images at the same URLs, and a finished crawl of the old one must not pass for it.
    inputs_version: str = ""


CrawlConfigMismatch = storage.ConfigMismatch


def _part(out: Path, stage: str, i: int) -> Path:
    return out / stage / f"{i:05d}.parquet"


def harvest_task(spec: dict) -> dict:
    out, i = Path(spec["out"]), spec["index"]
    path, stats_path = _part(out, "_harvest", i), out / "_harvest" / f"{i:05d}_stats.json"
    if path.is_file():
        table = pq.read_table(path)
        stats = json.loads(stats_path.read_text())
    else:
        if spec["kind"] == "urls":
            table, stats = harvest_url_list(spec["path"], spec["url_col"], spec["caption_col"])
        else:
            table, stats = harvest_warc(spec["path"], spec["harvest"])
        table = match_table(table, get_shared(spec["matcher"]))
        stats = dict(stats)
        with storage.atomic_output(stats_path, "w") as f:
            json.dump(stats, f)
        storage.write_parquet(table, path)  # written last: the marker that the part is done
    counts = entry_counts(table, spec["n_entries"])
    nz = np.flatnonzero(counts)
    return {"index": i, "stats": stats, "ids": nz, "counts": counts[nz]}


def balance_task(spec: dict) -> dict:
    out, i = Path(spec["out"]), spec["index"]
    path = _part(out, "_pool", i)
    if not path.is_file():
        table = balance_table(
            pq.read_table(_part(out, "_harvest", i)), get_shared(spec["p"]), spec["balance"]
        )
        storage.write_parquet(table, path)
    t = pq.read_table(path, columns=["url", "status"])
    selected = t.filter(pc.equal(t.column("status"), "selected")).column("url").to_pylist()
    return {
        "index": i,
        "status": dict(Counter(t.column("status").to_pylist())),
        "origins": sorted({origin(u) for u in selected}),
    }


def download_task(spec: dict) -> dict:
    out, shard_id = Path(spec["out"]), spec["shard_id"]
    if writer.is_complete(out, shard_id):
        return json.loads((out / f"{writer.shard_name(shard_id)}_stats.json").read_text())
    pool = pq.read_table(_part(out, "_pool", spec["part"]))
    sel = pool.filter(pc.equal(pool.column("status"), "selected")).slice(
        spec["start"], spec["stop"] - spec["start"]
    )
    rows = sel.to_pylist()
    for j, r in enumerate(rows):
        r["key"] = f"{shard_id:05d}{j:04d}"
    cfg: DownloadConfig = spec["download"]
    fetcher = Fetcher(cfg.fetch)
    fetcher.robots = RobotsCache(cfg.fetch.user_agent, get_shared(spec["robots"]), fetcher)
    samples, out_rows, stats = download_rows(rows, fetcher, cfg)
    stats["shard"] = shard_id
    writer.write_shard(out, shard_id, samples, out_rows, SHARD_SCHEMA, stats)
    return stats


def _check_config(cfg: CrawlConfig, out: Path, digest: str) -> dict:
    fingerprint = json.loads(
        json.dumps({"config": asdict(cfg), "queries_hash": digest}, default=str)
    )
    # How fast, and where a server happens to listen today, are not what is crawled.
    fingerprint["config"]["download"]["threads"] = None
    fingerprint["config"]["download"]["fetch"].update(resolve=None, allow=None)
    storage.claim_output(out, fingerprint, "a crawl")
    return fingerprint


def is_complete(cfg: CrawlConfig) -> bool:
    return (Path(cfg.out) / "_summary.json").is_file()


def prefetch_robots(out: Path, origins: list[str], dl: DownloadConfig) -> dict[str, str]:
    """Each origin's robots.txt, fetched once per crawl and kept in `_robots.parquet`."""
    path = out / "_robots.parquet"
    rows = pq.read_table(path).to_pylist() if path.is_file() else []
    missing = sorted(set(origins) - {r["origin"] for r in rows})
    if missing:
        fetcher = Fetcher(dl.fetch)
        with ThreadPoolExecutor(16) as ex:
            rows += ex.map(lambda o: fetch_robots(fetcher, o), missing)
        storage.write_parquet(pa.Table.from_pylist(rows), path)
    return {r["origin"]: r["body"] for r in rows}


def run(cfg: CrawlConfig, make_executor, load_queries) -> dict:
    """Run (or finish) the crawl; returns the summary also written to `_summary.json`.

    `make_executor` and `load_queries` are called only when there is work to do."""
    out = Path(cfg.out)
    suffixes = (".parquet", ".csv", ".jsonl") if cfg.input_kind == "urls" else storage.WARC_SUFFIXES
    files = storage.expand_inputs(list(cfg.inputs), suffixes)
    ql = load_queries()
    _check_config(cfg, out, ql.digest)
    if is_complete(cfg):
        return {**json.loads((out / "_summary.json").read_text()), "already_complete": True}
    storage.clean_temporaries(out)
    executor = make_executor()
    try:
        return _run(cfg, files, ql, executor, getattr(executor, "parallelism", 1))
    finally:
        executor.shutdown()


def _run(cfg: CrawlConfig, files: list[str], ql, executor, n_parallel: int) -> dict:
    out = Path(cfg.out)
    timings: dict[str, float] = {}
    matcher = Matcher(ql.entries)

    t0 = time.time()
    shared_matcher = executor.put(f"matcher-{ql.digest}", matcher)
    specs = [
        {
            "index": i,
            "path": p,
            "kind": cfg.input_kind,
            "out": str(out),
            "harvest": cfg.harvest,
            "url_col": cfg.url_col,
            "caption_col": cfg.caption_col,
            "matcher": shared_matcher,
            "n_entries": len(ql),
        }
        for i, p in enumerate(files)
    ]
    counts = np.zeros(len(ql), np.int64)
    harvest_stats: Counter = Counter()
    for _, res in executor.map(harvest_task, specs, "harvest+match"):
        counts[res["ids"]] += res["counts"]
        harvest_stats.update(res["stats"])
    timings["harvest_match"] = time.time() - t0

    t0 = time.time()
    p = executor.put(f"p-{ql.digest}-{cfg.balance.t}", probabilities(counts, cfg.balance.t))
    pool_status: dict[int, dict] = {}
    origins: set[str] = set()
    for _, res in executor.map(
        balance_task,
        [{"index": s["index"], "out": str(out), "p": p, "balance": cfg.balance} for s in specs],
        "balance",
    ):
        pool_status[res["index"]] = res["status"]
        origins.update(res["origins"])
    timings["balance"] = time.time() - t0

    t0 = time.time()
    robots = prefetch_robots(out, sorted(origins), cfg.download)
    timings["robots"] = time.time() - t0

    t0 = time.time()
    shard_specs, shard_id = [], 0
    per_task = replace(
        cfg.download,
        fetch=replace(
            cfg.download.fetch, host_rps=cfg.download.fetch.host_rps / max(1, n_parallel)
        ),
    )
    robots_shared = executor.put("robots", robots)
    for i in range(len(files)):
        n_sel = pool_status[i].get("selected", 0)
        for start in range(0, n_sel, cfg.shard_size):
            shard_specs.append(
                {
                    "out": str(out),
                    "shard_id": shard_id,
                    "part": i,
                    "start": start,
                    "stop": min(n_sel, start + cfg.shard_size),
                    "download": per_task,
                    "robots": robots_shared,
                }
            )
            shard_id += 1
    download_status: Counter = Counter()
    for _, st in executor.map(download_task, shard_specs, "download"):
        download_status.update(st["status_dict"])
    timings["download"] = time.time() - t0

    summary = _summary(
        files, harvest_stats, pool_status, download_status, len(shard_specs), timings
    )
    with storage.atomic_output(out / "_summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _summary(files, harvest_stats, pool_status, download_status, n_shards, timings) -> dict:
    pool = Counter()
    for s in pool_status.values():
        pool.update(s)
    candidates = harvest_stats.get("pairs", 0)
    return {
        "inputs": len(files),
        "pages": harvest_stats.get("html_pages", 0),
        "candidates": candidates,
        "matched": candidates - pool.get("no_match", 0),
        "no_match": pool.get("no_match", 0),
        "balanced_out": pool.get("balanced_out", 0),
        "selected": pool.get("selected", 0),
        "downloaded": download_status.get("success", 0),
        "failures": {k: v for k, v in sorted(download_status.items()) if k != "success"},
        "harvest": dict(sorted(harvest_stats.items())),
        "shards": n_shards,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "rates_per_s": {
            "harvest_match_pairs": round(candidates / max(timings["harvest_match"], 1e-9), 1),
            "download_images": round(
                sum(download_status.values()) / max(timings["download"], 1e-9), 1
            ),
        },
    }
