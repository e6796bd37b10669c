"""The explorer's search latency: p50/p95 per query at 17k and 1M embeddings.

Synthetic unit vectors of the model's width (96), drawn around 2,000 centres so that they
cluster as real embeddings do (uniform noise on a sphere has no neighbours worth finding).
At 17k the explorer searches exactly (one matrix-vector product); at 1M it uses its IVF
index, and the peer on the same vectors is exact search, which also gives IVF's recall@10.
With `--shards` (an indexed shards folder) it also times `/api/search` end to end over HTTP:
the text tower, the search and the catalog's lookup of the hits.

    python -m bench.explore [--shards data/bench/e2e/shards]
Writes bench/results/explore.json.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from bench import common
from openwit.explore import index as idx

DIM = 96


def vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, DIM)).astype(np.float32)
    x = centres[rng.integers(len(centres), size=n)] + 0.6 * rng.normal(size=(n, DIM)).astype(
        np.float32
    )
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
    }


def _searcher(x: np.ndarray, folder: Path) -> idx.Searcher:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "image.npy", x.astype(np.float16))
    pq.write_table(
        pa.table({"pair_id": [f"{i:09d}" for i in range(len(x))]}), folder / "rows.parquet"
    )
    meta = {"rows": len(x), "dim": DIM, **idx.write_search_index(folder, x)}
    (folder / "meta.json").write_text(json.dumps(meta))
    return idx.Searcher(folder)


def timed(searcher: idx.Searcher, queries: np.ndarray, k: int = 10) -> tuple[dict, list]:
    found, seconds = [], []
    for q in queries:
        t0 = time.perf_counter()
        found.append([p for p, _ in searcher.search(q, k)])
        seconds.append(time.perf_counter() - t0)
    return _percentiles(seconds), found


def synthetic(n: int, n_queries: int, work: Path) -> dict:
    x = vectors(n)
    rng = np.random.default_rng(1)
    q = x[rng.integers(n, size=n_queries)] + 0.3 * rng.normal(size=(n_queries, DIM)).astype(
        np.float32
    )
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    t0 = time.perf_counter()
    s = _searcher(x, work / f"n{n}")
    build = time.perf_counter() - t0
    lat, got = timed(s, q)
    out = {"rows": n, "search": s.meta["search"], "build_seconds": round(build, 1), **lat}
    if s.index is not None:  # the peer: exact search over the same vectors
        s.index = None
        exact_lat, exact = timed(s, q)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact, strict=True)])
        out |= {
            "nlist": s.meta["nlist"],
            "nprobe": s.meta["nprobe"],
            "recall_at_10": round(float(recall), 4),
            "exact": exact_lat,
            "speedup_p50": round(exact_lat["p50_ms"] / lat["p50_ms"], 1),
        }
    return out


def http(shards: str, n_queries: int = 100) -> dict:
    from openwit.explore.app import ExploreConfig, running

    words = ["red", "blue", "green", "circle", "star", "heart", "dotted", "large", "small", "cat"]
    rng = np.random.default_rng(2)
    seconds = []
    with running(ExploreConfig(shards)) as base:
        urllib.request.urlopen(f"{base}/api/search?q=warm+up").read()
        for _ in range(n_queries):
            q = " ".join(rng.choice(words, size=3))
            t0 = time.perf_counter()
            urllib.request.urlopen(
                f"{base}/api/search?{urllib.parse.urlencode({'q': q, 'k': 40})}"
            ).read()
            seconds.append(time.perf_counter() - t0)
    return {"shards": shards, "queries": n_queries, "k": 40, **_percentiles(seconds)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="17000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--shards", default="", help="an indexed shards folder: time /api/search")
    ap.add_argument("--out", default="bench/results/explore.json")
    args = ap.parse_args()
    work = Path("data/bench/explore")
    result = {
        **common.stamp(),
        "dim": DIM,
        "synthetic": [synthetic(int(n), args.queries, work) for n in args.sizes.split(",")],
    }
    if args.shards and (Path(args.shards) / "_index" / "meta.json").is_file():
        result["http"] = http(args.shards)
    common.write(args.out, result)
    for row in result["synthetic"]:
        print(row)
    print(result.get("http"))


if __name__ == "__main__":
    main()
