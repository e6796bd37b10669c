"""Score a crawl of the sandbox against its ground truth, and the server's log against the rules.

- every harvested pair is a planted candidate, and every candidate was harvested;
- every downloaded row has the status its planted fault calls for;
- the server never saw a request for a robots-disallowed URL, nor any on the trap listener.
"""

from __future__ import annotations

import glob
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from openwit.pipeline.sandbox.plan import robots_blocks
from openwit.pipeline.sandbox.server import read_log


def _concat(pattern: str) -> list[dict]:
    paths = sorted(glob.glob(pattern))
    return pa.concat_tables([pq.read_table(p) for p in paths]).to_pylist() if paths else []


def audit(
    crawl_dir: str | Path, sandbox_dir: str | Path, log_path: str | Path | None = None
) -> dict:
    crawl_dir, sandbox_dir = Path(crawl_dir), Path(sandbox_dir)
    truth = pq.read_table(sandbox_dir / "truth" / "candidates.parquet").to_pylist()
    pool = _concat(str(crawl_dir / "_pool" / "*.parquet"))
    shards = {r["pair_id"]: r for r in _concat(str(crawl_dir / "[0-9]*.parquet"))}
    want = Counter((t["page_url"], t["url"], t["caption"]) for t in truth)
    got = Counter((r["page_url"], r["url"], r["caption"]) for r in pool)
    by_key = {(t["page_url"], t["url"], t["caption"]): t for t in truth}
    wrong: Counter = Counter()
    checked = 0
    for r in pool:
        t = by_key.get((r["page_url"], r["url"], r["caption"]))
        if t is None or r["status"] != "selected":
            continue
        checked += 1
        status = shards[r["pair_id"]]["status"] if r["pair_id"] in shards else "not_downloaded"
        if status != t["expected_status"]:
            wrong[f"{t['fault']}: expected {t['expected_status']}, got {status}"] += 1
    result = {
        "candidates": len(truth),
        "harvested": len(pool),
        "missed": sum((want - got).values()),
        "extra": sum((got - want).values()),
        "downloads_checked": checked,
        "status_mismatches": dict(wrong),
    }
    if log_path:
        rules = {
            h["host"]: h["robots"]
            for h in pq.read_table(sandbox_dir / "truth" / "hosts.parquet").to_pylist()
        }
        log = read_log(log_path)
        result["server_requests"] = len(log)
        result["robots_violations"] = sum(
            1
            for e in log
            if e["listener"] == "main"
            and e["path"] != "/robots.txt"
            and robots_blocks(rules.get(e["host"], "allow_all"), e["path"])
        )
        result["trap_connections"] = sum(1 for e in log if e["listener"] == "trap")
    return result
