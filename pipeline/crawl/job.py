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
import pyarrow.parquet as pq

from openwit.core import jobs, storage
from openwit.core.vocab import SUCCESS, Pool
from openwit.pipeline.crawl.balance import BalanceConfig, probabilities
from openwit.pipeline.crawl.download import DownloadConfig
from openwit.pipeline.crawl.harvest import HarvestConfig, check_not_arc
from openwit.pipeline.crawl.http.conn import idle_budget
from openwit.pipeline.crawl.http.fetch import USER_AGENT, FetchConfig, Fetcher
from openwit.pipeline.crawl.http.guard import check_allow, parse_resolve
from openwit.pipeline.crawl.http.optout import fetch_tdmrep
from openwit.pipeline.crawl.http.robots import RobotsCache, fetch_robots
from openwit.pipeline.crawl.listing import expand_listing, is_listing
from openwit.pipeline.crawl.resize import ResizeConfig
from openwit.pipeline.crawl.tasks import (
    BalanceTask,
    DownloadTask,
    HarvestTask,
    balance_task,
    download_stream,
    harvest_task,
)
from openwit.pipeline.crawl.urllist import LIST_SUFFIXES
from openwit.pipeline.crawl.urllist import PRESETS as LIST_PRESETS
from openwit.pipeline.sandbox.presets import SANDBOX, SLOW_MARGIN, CrawlPreset
from openwit.queries.match import Matcher


@dataclass(frozen=True)
class CrawlConfig:
    inputs: tuple[str, ...]
    queries: str = "data/queries"
    out: str = "data/crawl"
    input_kind: str = "warc"  # "warc", "wat" (Common Crawl metadata), or "urls": URL lists
    url_col: str | None = None  # None: the list preset's
    caption_col: str | None = None
    list_preset: str = "default"  # laion, datacomp, coyo, cc3m, cc12m, metaclip (urllist.py)
    keep_columns: tuple[str, ...] | None = None  # None: the list preset's
    paths_prefix: str | None = None  # for warc.paths.gz listings (listing.py)
    shard_size: int = 1000
    harvest: HarvestConfig = field(default_factory=HarvestConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    download: DownloadConfig = field(default_factory=DownloadConfig)
    # What the inputs hold beyond their paths (the sandbox's build): a rebuilt sandbox serves
    # other images at the same URLs, and a finished crawl of the old one must not pass for it.
    inputs_version: str = ""
    preset: str = "web"  # whose defaults filled what was not given: web or sandbox
    sandbox: str | None = None  # the sandbox web this crawl serves and is audited against

    def __post_init__(self) -> None:
        if self.input_kind not in ("warc", "wat", "urls"):
            raise ValueError(f"input kind {self.input_kind!r}: use warc, wat or urls")
        if self.list_preset not in LIST_PRESETS:
            raise ValueError(
                f"list preset {self.list_preset!r}: use one of {', '.join(LIST_PRESETS)}"
            )
        if self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r}: use {' or '.join(PRESETS)}")
        if self.shard_size < 1:
            raise ValueError(f"shard size {self.shard_size}: give at least 1")


CrawlConfigMismatch = jobs.ConfigMismatch
PRESETS = {
    # The configs' own defaults: CLIP's cap and a polite rate for hosts we do not own.
    "web": CrawlPreset(
        t=BalanceConfig.t, timeout=FetchConfig.timeout, host_rps=FetchConfig.host_rps
    ),
    "sandbox": SANDBOX,
}


def make_config(
    inputs: list[str] | None,
    *,
    sandbox: str = "data/sandbox",
    serve_sandbox: bool = False,
    t: int | None = None,
    seed: int = BalanceConfig.seed,
    timeout: float | None = None,
    host_rps: float | None = None,
    user_agent: str | None = None,
    image_size: int = ResizeConfig.image_size,
    resize_mode: str = ResizeConfig.resize_mode,
    threads: int = DownloadConfig.threads,
    resolve: list[str] = (),
    allow: list[str] = (),
    allow_private_network: bool = False,
    offline: bool = False,
    ca_bundle: str | None = None,
    **rest,
) -> CrawlConfig:
    """A crawl's settings from what a user gave: no inputs means the sandbox web (its preset
    fills what was not given); `serve_sandbox` serves the sandbox for inputs copied elsewhere."""
    on_sandbox = not inputs or serve_sandbox
    name = "sandbox" if on_sandbox else "web"
    p = PRESETS[name]
    if ca_bundle and not Path(ca_bundle).is_file():
        raise ValueError(f"--ca-bundle {ca_bundle}: no such file (give a PEM file of CAs)")
    fetch = FetchConfig(
        user_agent=user_agent or USER_AGENT,
        timeout=timeout or p.timeout,
        host_rps=host_rps or p.host_rps,
        resolve=dict(parse_resolve(s) for s in resolve),
        allow=tuple(check_allow(s, allow_private_network) for s in allow),
        resolve_only=offline,
        ca_bundle=ca_bundle,
    )
    resize = ResizeConfig(image_size=image_size, resize_mode=resize_mode)
    agent = (user_agent or USER_AGENT).split("/")[0].split()[0].lower()
    return CrawlConfig(
        inputs=tuple(inputs or [str(Path(sandbox) / "crawl-data")]),
        harvest=HarvestConfig(agent=agent),
        balance=BalanceConfig(t or p.t, seed),
        download=DownloadConfig(fetch=fetch, resize=resize, threads=threads),
        preset=name,
        sandbox=str(sandbox) if on_sandbox else None,
        **rest,
    )


def _check_config(cfg: CrawlConfig, out: Path, digest: str) -> dict:
    fingerprint = json.loads(
        json.dumps({"config": asdict(cfg), "queries_hash": digest}, default=str)
    )
    # How fast, and where a server happens to listen today, are not what is crawled.
    fingerprint["config"]["download"]["threads"] = None
    fingerprint["config"]["download"]["fetch"].update(resolve=None, allow=None)
    jobs.claim_output(out, fingerprint, "a crawl")
    return fingerprint


def is_complete(cfg: CrawlConfig) -> bool:
    return (Path(cfg.out) / jobs.SUMMARY).is_file()


def _origin_files(fetcher: Fetcher, o: str, tdmrep: bool) -> dict:
    row = fetch_robots(fetcher, o)
    robots = RobotsCache(fetcher.cfg.user_agent, {o: row["body"]})
    row["tdmrep"] = fetch_tdmrep(fetcher, o, robots) if tdmrep else ""
    return row


def prefetch_robots(out: Path, origins: list[str], dl: DownloadConfig) -> dict[str, dict]:
    """Each origin's robots.txt and tdmrep.json, fetched once per crawl (`_robots.parquet`)."""
    path = out / "_robots.parquet"
    rows = pq.read_table(path).to_pylist() if path.is_file() else []
    missing = sorted(set(origins) - {r["origin"] for r in rows})
    if missing:
        fetcher = Fetcher(replace(dl.fetch, max_idle=idle_budget(dl.fetch.max_idle, 16)))
        try:
            with ThreadPoolExecutor(16) as ex:
                rows += ex.map(
                    lambda o: _origin_files(fetcher, o, dl.fetch.respect_tdmrep), missing
                )
        finally:
            fetcher.close()
        storage.write_parquet(pa.Table.from_pylist(rows), path)
    return {
        "robots": {r["origin"]: r["body"] for r in rows},
        "tdmrep": {r["origin"]: r.get("tdmrep") or "" for r in rows},
    }


def run(cfg: CrawlConfig, make_executor, load_queries, on_serve=None) -> dict:
    """Run (or finish) the crawl; returns the summary also written to `_summary.json`.

    `make_executor` and `load_queries` are called only when there is work to do. A crawl of
    the sandbox serves it on loopback for the crawl's length (`on_serve` hears where) and
    audits the result against its ground truth."""
    if cfg.sandbox is None:
        return _run_job(cfg, make_executor, load_queries)
    from openwit.pipeline.sandbox.audit import audit
    from openwit.pipeline.sandbox.server import serve_in_subprocess

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "_sandbox_server_log.jsonl"
    slow = cfg.download.fetch.timeout + SLOW_MARGIN
    with serve_in_subprocess(Path(cfg.sandbox), slow_seconds=slow, log_path=log) as info:
        if on_serve is not None:
            on_serve(info)
        fetch = replace(
            cfg.download.fetch,
            resolve=info["resolve"],
            allow=tuple(info["allow"]),
            resolve_only=True,
        )
        served = replace(cfg, download=replace(cfg.download, fetch=fetch))
        summary = _run_job(served, make_executor, load_queries)
    if not summary.get("already_complete"):
        summary["sandbox_audit"] = audit(cfg.out, Path(cfg.sandbox), log)
        jobs.write_summary(out, summary)
    return summary


def input_files(cfg: CrawlConfig) -> list[str]:
    """The archives or lists a crawl reads: paths, folders, globs and Common Crawl listings."""
    suffixes = {
        "urls": LIST_SUFFIXES,
        "wat": (".wat.gz", ".wat"),
        "warc": storage.WARC_SUFFIXES,
    }[cfg.input_kind]
    plain = [i for i in cfg.inputs if not is_listing(i)]
    files = storage.expand_inputs(plain, suffixes) if plain else []
    for item in cfg.inputs:
        if is_listing(item):
            files += expand_listing(item, cfg.paths_prefix)
    files = sorted(set(files))
    for f in files:
        check_not_arc(f)
    return files


def _run_job(cfg: CrawlConfig, make_executor, load_queries) -> dict:
    out = Path(cfg.out)
    files = input_files(cfg)
    ql = load_queries()
    _check_config(cfg, out, ql.digest)
    if is_complete(cfg):
        return {**jobs.read_summary(out), "already_complete": True}
    jobs.clean_temporaries(out)
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
        HarvestTask(
            index=i,
            path=p,
            kind=cfg.input_kind,
            out=str(out),
            harvest=cfg.harvest,
            url_col=cfg.url_col,
            caption_col=cfg.caption_col,
            list_preset=cfg.list_preset,
            keep_columns=cfg.keep_columns,
            matcher=shared_matcher,
            n_entries=len(ql),
        )
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
        [BalanceTask(s.index, str(out), p, cfg.balance) for s in specs],
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
        fetch=replace(cfg.download.fetch, host_share=max(1, n_parallel)),
    )
    robots_shared = executor.put("robots", robots)
    for i in range(len(files)):
        n_sel = pool_status[i].get(Pool.SELECTED, 0)
        for start in range(0, n_sel, cfg.shard_size):
            stop = min(n_sel, start + cfg.shard_size)
            shard_specs.append(
                DownloadTask(str(out), shard_id, i, start, stop, per_task, robots_shared)
            )
            shard_id += 1
    # Streams of shards, each one fetcher and thread pool: a shard's slow URLs overlap with
    # the next shard's work (download.download_shards). Two per core keep the bar moving.
    n_streams = max(1, min(len(shard_specs), 2 * max(1, n_parallel)))
    streams = [shard_specs[k::n_streams] for k in range(n_streams)] if shard_specs else []
    download_status: Counter = Counter()
    for _, stats in executor.map(download_stream, streams, "download"):
        for st in stats:
            download_status.update(st["status_dict"])
    timings["download"] = time.time() - t0

    summary = _summary(
        files, harvest_stats, pool_status, download_status, len(shard_specs), timings
    )
    jobs.write_summary(out, summary)
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
        "matched": candidates - pool.get(Pool.NO_MATCH, 0),
        **{str(s): pool.get(s, 0) for s in Pool},
        "downloaded": download_status.get(SUCCESS, 0),
        "failures": {k: v for k, v in sorted(download_status.items()) if k != SUCCESS},
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
