"""WAT vs WARC harvest on the same pages: pairs, pairs/s and bytes read.

The sandbox writes a WAT beside each WARC (pipeline/sandbox/wat.py), so both harvests meet
one truth: the same (page, URL, caption) pairs. Each harvest reads every file of its kind
once, in one process, best of --repeats. Writes bench/results/wat.json.
    python -m bench.wat [--sandbox data/sandbox] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

from bench import common


def _harvest(fn, files: list[str]) -> tuple[float, Counter]:
    t0 = time.perf_counter()
    pairs: Counter = Counter()
    for f in files:
        table, _ = fn(f)
        cols = (table.column(c).to_pylist() for c in ("page_url", "url", "caption"))
        pairs.update(zip(*cols, strict=True))
    return time.perf_counter() - t0, pairs


def main() -> None:
    from openwit.pipeline.crawl.harvest import harvest_warc, harvest_wat
    from openwit.pipeline.crawl.listing import expand_listing

    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", default="data/sandbox")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    listings = Path(args.sandbox) / "crawl-data" / "SANDBOX-2024-18"
    result = {**common.stamp(), "sandbox": args.sandbox}
    pairs = {}
    for kind, fn in (("warc", harvest_warc), ("wat", harvest_wat)):
        files = expand_listing(str(listings / f"{kind}.paths.gz"))
        best, got = min(_harvest(fn, files) for _ in range(args.repeats))
        pairs[kind] = got
        n = sum(got.values())
        result[kind] = {
            "files": len(files),
            "bytes": sum(os.path.getsize(f) for f in files),
            "pairs": n,
            "seconds": round(best, 3),
            "pairs_per_s": round(n / best, 1),
        }
    result["same_pairs"] = pairs["warc"] == pairs["wat"]
    result["bytes_ratio_warc_over_wat"] = round(result["warc"]["bytes"] / result["wat"]["bytes"], 2)
    result["speed_ratio_wat_over_warc"] = round(
        result["wat"]["pairs_per_s"] / result["warc"]["pairs_per_s"], 2
    )
    common.write("bench/results/wat.json", result)


if __name__ == "__main__":
    main()
