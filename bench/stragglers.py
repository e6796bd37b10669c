"""Stragglers: download throughput with 1% of hosts hanging, against the same run without.

A loopback web (the tests' own server, in its own process) serves H hosts of U small PNGs
each; in the second run 1% of the hosts accept the connection and never answer. Both runs
download the same URL list (hosts interleaved, as a balanced pool comes) with the crawl's
download step: 32 threads, 500-row shards, --timeout 2 and the default 2 retries. Two ways:
`streams` (the crawl's: one thread pool across shards, each written when whole) and
`shard_by_shard` (each shard waits for its slowest URL before the next starts: how the
crawl ran before streams). The ratio is successes/s with hanging hosts over successes/s
without, per way. Writes bench/results/stragglers.json.
    python -m bench.stragglers [--hosts 2000] [--per-host 6]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time

from bench import common

THREADS = 64  # the crawl's default (--threads)


def _serve(hosts: int, per_host: int, hanging: int) -> None:
    from PIL import Image

    from tests.pipeline.crawl.http.web import response, serve

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 30, 200)).save(buf, "PNG")
    ok = response(200, buf.getvalue(), {"Content-Type": "image/png"})
    hang = [(b"", 3600.0)]
    with serve() as web:
        for h in range(hosts):
            answer = hang if h % (hosts // max(1, hanging)) == 0 and hanging else ok
            for k in range(per_host):
                web.route(f"h{h}.test", f"/{k}.png", answer)
        print(web.port, flush=True)
        sys.stdin.read()  # until the parent closes it


def _run(way: str, hosts: int, per_host: int, hanging: int) -> dict:
    from openwit.pipeline.crawl.download import DownloadConfig, download_shards
    from openwit.pipeline.crawl.http.fetch import FetchConfig, Fetcher

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.stragglers",
            "--serve",
            str(hosts),
            str(per_host),
            str(hanging),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        names = [f"h{h}.test" for h in range(hosts)]
        fetch = FetchConfig(
            resolve={f"{n}:80": f"127.0.0.1:{port}" for n in names},
            allow=(f"127.0.0.1:{port}",),
            resolve_only=True,
            timeout=2.0,
            respect_robots=False,
            respect_tdmrep=False,
        )
        cfg = DownloadConfig(fetch=fetch, threads=THREADS)
        urls = [f"http://h{h}.test/{k}.png" for k in range(per_host) for h in range(hosts)]
        rows = [
            {"key": f"{i:09d}", "url": u, "caption": "x", "matched": []} for i, u in enumerate(urls)
        ]
        shards = [(s, rows[i : i + 500]) for s, i in enumerate(range(0, len(rows), 500))]
        fetcher = Fetcher(fetch)
        t0 = time.monotonic()
        ok = 0
        groups = [shards] if way == "streams" else [[s] for s in shards]
        for group in groups:
            for _, (_, _, stats) in download_shards(group, fetcher, cfg):
                ok += stats["successes"]
        seconds = time.monotonic() - t0
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    return {
        "urls": len(urls),
        "successes": ok,
        "seconds": round(seconds, 2),
        "per_s": round(ok / seconds, 1),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve(*map(int, sys.argv[2:5]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--per-host", type=int, default=6)
    args = ap.parse_args()
    result = {**common.stamp(), "hosts": args.hosts, "per_host": args.per_host, "ways": {}}
    for way in ("streams", "shard_by_shard"):
        clean = _run(way, args.hosts, args.per_host, 0)
        hung = _run(way, args.hosts, args.per_host, args.hosts // 100)
        result["ways"][way] = {
            "without_hanging": clean,
            "with_1pct_hanging": hung,
            "ratio": round(hung["per_s"] / clean["per_s"], 3),
        }
    common.write("bench/results/stragglers.json", result)


if __name__ == "__main__":
    main()
