"""The crawl's Ray tasks, one input file or one download shard each, and what each is given.

Each task skips work whose output exists and writes its output last, under a temporary name,
so a task killed and run again ends as if it had run once.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.core.executor import Shared, get_shared
from openwit.core.io import atomic_output
from openwit.core.vocab import Pool
from openwit.pipeline.crawl import writer
from openwit.pipeline.crawl.balance import BalanceConfig, balance_table
from openwit.pipeline.crawl.download import SCHEMA as SHARD_SCHEMA
from openwit.pipeline.crawl.download import DownloadConfig, download_shards
from openwit.pipeline.crawl.harvest import HarvestConfig, harvest_warc, harvest_wat
from openwit.pipeline.crawl.http.conn import idle_budget
from openwit.pipeline.crawl.http.fetch import Fetcher
from openwit.pipeline.crawl.http.optout import TdmCache
from openwit.pipeline.crawl.http.robots import RobotsCache, origin
from openwit.pipeline.crawl.match import entry_counts, match_table
from openwit.pipeline.crawl.urllist import harvest_url_list


@dataclass(frozen=True)
class HarvestTask:
    index: int  # the input file's number: its parts are _harvest/<index>.parquet, _pool/…
    path: str
    kind: str  # "warc", "wat" or "urls"
    out: str
    harvest: HarvestConfig
    url_col: str | None
    caption_col: str | None
    list_preset: str
    keep_columns: tuple[str, ...] | None
    matcher: Shared  # the query matcher, shipped once per worker
    n_entries: int


@dataclass(frozen=True)
class BalanceTask:
    index: int
    out: str
    p: Shared  # each entry's keep probability over the whole pool
    balance: BalanceConfig


@dataclass(frozen=True)
class DownloadTask:
    out: str
    shard_id: int
    part: int  # the input file whose selected rows [start, stop) this shard downloads
    start: int
    stop: int
    download: DownloadConfig
    robots: Shared  # every origin's robots.txt and tdmrep.json: {"robots": …, "tdmrep": …}


def _part(out: Path, stage: str, i: int) -> Path:
    return out / stage / f"{i:05d}.parquet"


def harvest_task(spec: HarvestTask) -> dict:
    out, i = Path(spec.out), spec.index
    path, stats_path = _part(out, "_harvest", i), out / "_harvest" / f"{i:05d}_stats.json"
    if path.is_file():
        table = pq.read_table(path)
        stats = json.loads(stats_path.read_text())
    else:
        if spec.kind == "urls":
            table, stats = harvest_url_list(
                spec.path,
                spec.url_col,
                spec.caption_col,
                spec.list_preset,
                spec.keep_columns,
                spec.harvest.max_caption_chars,
            )
        elif spec.kind == "wat":
            table, stats = harvest_wat(spec.path, spec.harvest)
        else:
            table, stats = harvest_warc(spec.path, spec.harvest)
        table = match_table(table, get_shared(spec.matcher))
        stats = dict(stats)
        with atomic_output(stats_path, "w") as f:
            json.dump(stats, f)
        storage.write_parquet(table, path)  # written last: the marker that the part is done
    counts = entry_counts(table, spec.n_entries)
    nz = np.flatnonzero(counts)
    return {"index": i, "stats": stats, "ids": nz, "counts": counts[nz]}


def balance_task(spec: BalanceTask) -> dict:
    out, i = Path(spec.out), spec.index
    path = _part(out, "_pool", i)
    if not path.is_file():
        table = balance_table(
            pq.read_table(_part(out, "_harvest", i)), get_shared(spec.p), spec.balance
        )
        storage.write_parquet(table, path)
    t = pq.read_table(path, columns=["url", "status"])
    selected = t.filter(pc.equal(t.column("status"), Pool.SELECTED)).column("url").to_pylist()
    return {
        "index": i,
        "status": dict(Counter(t.column("status").to_pylist())),
        "origins": sorted({origin(u) for u in selected}),
    }


def _shard_rows(spec: DownloadTask) -> list[dict]:
    pool = pq.read_table(_part(Path(spec.out), "_pool", spec.part))
    sel = pool.filter(pc.equal(pool.column("status"), Pool.SELECTED)).slice(
        spec.start, spec.stop - spec.start
    )
    rows = sel.to_pylist()
    for j, r in enumerate(rows):
        r["key"] = f"{spec.shard_id:05d}{j:04d}"
    return rows


def download_stream(specs: list[DownloadTask]) -> list[dict]:
    """Download a stream of shards with one fetcher and one thread pool (see
    `download.download_shards`), writing each shard as soon as it is whole; shards already
    complete are skipped. Returns every shard's stats."""
    out = Path(specs[0].out)
    done = {s.shard_id for s in specs if writer.is_complete(out, s.shard_id)}
    stats = [
        json.loads((out / f"{writer.shard_name(i)}_stats.json").read_text()) for i in sorted(done)
    ]
    todo = [s for s in specs if s.shard_id not in done]
    if not todo:
        return stats
    cfg = todo[0].download
    known = get_shared(todo[0].robots)
    # Sized to this process's open-file limit, whatever the number of origins.
    fetch = replace(cfg.fetch, max_idle=idle_budget(cfg.fetch.max_idle, cfg.threads))
    fetcher = Fetcher(fetch)
    fetcher.robots = RobotsCache(cfg.fetch.user_agent, known["robots"], fetcher)
    fetcher.tdm = TdmCache(known["tdmrep"], fetcher)
    rows = ((s.shard_id, _shard_rows(s)) for s in todo)  # each read when the stream reaches it
    try:
        for shard_id, (samples, out_rows, st) in download_shards(rows, fetcher, cfg):
            st["shard"] = shard_id
            writer.write_shard(out, shard_id, samples, out_rows, SHARD_SCHEMA, st)
            stats.append(st)
    finally:
        fetcher.close()
    return stats
