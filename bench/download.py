"""Download + resize: the crawl's download stage vs the img2dataset CLI, same URL list.

The images (procedural scenes, 640-1600 px JPEGs, rendered once into data/bench/images/) are
served by one static HTTP server on 127.0.0.1. Both tools get the same URL list, 2 processes x
16 threads, resize to 256 keep_ratio without upscaling, JPEG quality 95, 1,000 per shard.
Time is what both tools record per shard (start and end of download + resize): the span from
the first shard's start to the last shard's end; start-up (Ray, Python imports) is left out of
both. Ours also checks robots.txt and every address; because every URL here is on one host, its
per-host politeness limits are lifted for the run (on the web, URLs spread across hosts).

img2dataset runs from its own virtualenv (`make bench-peers` builds .venv-peers), so its pins
never touch ours. Writes bench/results/download.json.
    python -m bench.download [--images 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import common

PEER = Path(".venv-peers/bin/img2dataset")
PROCESSES, THREADS, SIZE = 2, 16, 256


def make_images(folder: Path, n: int) -> list[str]:
    from openwit.pipeline.sandbox.scenes import render, scene_from_seed

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        name = f"{i:06d}.jpg"
        w = int(rng.integers(640, 1601))  # drawn for every image: cached or not, same sizes
        h = int(w * rng.uniform(0.6, 1.0))
        if not (folder / name).exists():
            tmp = folder / f".{name}.tmp"
            render(scene_from_seed(10_000 + i), w, h).save(tmp, "JPEG", quality=90)
            tmp.rename(folder / name)
        names.append(name)
    return names


def serve(folder: Path) -> tuple[subprocess.Popen, int]:
    code = (
        "import http.server, functools, sys\n"
        "h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n"
        "h.log_message = lambda *a: None\n"
        "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)\n"
        "print(s.server_address[1], flush=True)\n"
        "s.serve_forever()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE)
    return proc, int(proc.stdout.readline())


def span(stats_files: list[Path]) -> tuple[float, int]:
    stats = [json.loads(p.read_text()) for p in stats_files]
    secs = max(s["end_time"] for s in stats) - min(s["start_time"] for s in stats)
    return secs, sum(s["successes"] for s in stats)


def ours(urls: Path, port: int, out: Path, queries: str) -> tuple[float, int]:
    from openwit.core.executor import make_executor
    from openwit.pipeline.crawl import job as crawl
    from openwit.pipeline.crawl.balance import BalanceConfig
    from openwit.pipeline.crawl.download import DownloadConfig
    from openwit.pipeline.crawl.http.fetch import FetchConfig
    from openwit.pipeline.crawl.resize import ResizeConfig
    from openwit.queries.build import load

    fetch = FetchConfig(
        allow=(f"127.0.0.1:{port}",), host_rps=1e6, host_concurrency=PROCESSES * THREADS
    )
    cfg = crawl.CrawlConfig(
        inputs=(str(urls),),
        queries=queries,
        out=str(out),
        input_kind="urls",
        balance=BalanceConfig(t=10**9),
        download=DownloadConfig(fetch=fetch, resize=ResizeConfig(SIZE), threads=THREADS),
    )
    crawl.run(cfg, lambda: make_executor("ray", None, PROCESSES), lambda: load(queries))
    return span(sorted(out.glob("*_stats.json")))


def peer(urls: Path, out: Path) -> tuple[float, int]:
    cmd = [str(PEER), "--url_list", str(urls), "--input_format", "parquet"]
    cmd += ["--url_col", "url", "--caption_col", "caption", "--output_format", "webdataset"]
    cmd += ["--output_folder", str(out), "--processes_count", str(PROCESSES)]
    cmd += ["--thread_count", str(THREADS), "--image_size", str(SIZE)]
    cmd += ["--resize_mode", "keep_ratio", "--resize_only_if_bigger", "True"]
    cmd += ["--encode_format", "jpg", "--encode_quality", "95", "--timeout", "30"]
    cmd += ["--number_sample_per_shard", "1000", "--distributor", "multiprocessing"]
    cmd += ["--enable_wandb", "False", "--retries", "0"]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}  # it would otherwise phone home
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return span(sorted(out.glob("*_stats.json")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", default="data/queries")
    ap.add_argument("--cache", default="data/bench/images")
    ap.add_argument("--out", default="bench/results/download.json")
    args = ap.parse_args()
    if not PEER.exists():
        raise SystemExit(f"{PEER} is missing: run `make bench-peers` (img2dataset in its own venv)")
    folder = Path(args.cache)
    names = make_images(folder, args.images)
    proc, port = serve(folder)
    runs: dict[str, list] = {"ours": [], "img2dataset": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls = Path(tmp) / "urls.parquet"
            pq.write_table(
                pa.table(
                    {
                        "url": [f"http://127.0.0.1:{port}/{n}" for n in names],
                        "caption": ["a photo of a red circle"] * len(names),
                    }
                ),
                urls,
            )
            for r in range(args.repeats):  # alternate, so drift on the box hits both alike
                runs["ours"].append(ours(urls, port, Path(tmp) / f"ours{r}", args.queries))
                runs["img2dataset"].append(peer(urls, Path(tmp) / f"peer{r}"))
                for d in (f"ours{r}", f"peer{r}"):
                    shutil.rmtree(Path(tmp) / d)
                time.sleep(1)
    finally:
        proc.kill()
    rate = {k: statistics.median(n / s for s, n in v) for k, v in runs.items()}
    result = {
        "benchmark": "download + resize (loopback server), 2 processes x 16 threads",
        **common.stamp(),
        "images": len(names),
        "processes": PROCESSES,
        "threads": THREADS,
        "successes": {k: [n for _, n in v] for k, v in runs.items()},
        "seconds": {k: [round(s, 2) for s, _ in v] for k, v in runs.items()},
        "images_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ratio": round(rate["ours"] / rate["img2dataset"], 3),
        "goal": 1.0,
        "met": rate["ours"] >= rate["img2dataset"],
        "ours_also_checks": ["robots.txt", "address guard on every hop", "noai headers"],
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
