"""Query matching: our matcher vs MetaCLIP's per-entry loop and a plain pyahocorasick loop.

Same entries, same texts, same run; outputs must be identical. Writes bench/results/match.json.
    python -m bench.match [--queries data/queries] [--texts N] [--naive-texts N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import ahocorasick
import pyarrow.parquet as pq

from bench import common
from openwit.core.executor import init_ray
from openwit.queries.build import load
from openwit.queries.match import Matcher, naive_match, spacing


def captions(n: int, sandbox: Path) -> list[str]:
    texts = pq.read_table(sandbox / "truth" / "candidates.parquet", columns=["caption"])
    texts = [t for t in texts.column("caption").to_pylist() if t]
    return (texts * (n // len(texts) + 1))[:n]


def plain_loop(entries: list[str]):
    a = ahocorasick.Automaton()
    for i, e in enumerate(entries):
        a.add_word(f" {e} ", i)  # last id wins on repeats: fine for timing, checked below
    a.make_automaton()
    return lambda texts: [sorted({i for _, i in a.iter(spacing(t))}) for t in texts]


def best_of(fn, arg, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(arg)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def ray_scaling(entries: list[str], texts: list[str], most: int, repeats: int) -> dict:
    """Texts/s with 1..`most` Ray actors, each holding a matcher, on equal slices."""
    import ray

    init_ray("local", num_cpus=most)  # our own Ray, not one already running here

    @ray.remote(num_cpus=1)
    class Worker:
        def __init__(self, entries: list[str]):
            self.matcher = Matcher(entries)

        def match(self, chunk: list[str]) -> int:
            return len(self.matcher.match_many(chunk))

    ref = ray.put(entries)
    workers = [Worker.remote(ref) for _ in range(most)]
    rates = {}
    for n in range(1, most + 1):
        chunks = [texts[i::n] for i in range(n)]
        ray.get([w.match.remote(c[:100]) for w, c in zip(workers, chunks, strict=False)])
        secs, _ = best_of(
            lambda cs, n=n: ray.get([workers[i].match.remote(c) for i, c in enumerate(cs)]),
            chunks,
            repeats,
        )
        rates[n] = len(texts) / secs
    ray.shutdown()
    return {
        "texts_per_s": {str(n): round(r, 1) for n, r in rates.items()},
        "efficiency": round(rates[most] / (most * rates[1]), 3),  # 1.0 = linear
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", default="data/queries")
    ap.add_argument("--sandbox", default="data/sandbox")
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--naive-texts", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default="bench/results/match.json")
    args = ap.parse_args()
    entries = load(args.queries).entries
    texts = captions(args.texts, Path(args.sandbox))
    t = time.perf_counter()
    matcher = Matcher(entries)
    build_s = time.perf_counter() - t
    ours_s, ours = best_of(matcher.match_many, texts, args.repeats)
    plain_s, plain = best_of(plain_loop(entries), texts, args.repeats)
    few = texts[: args.naive_texts]
    naive_s, naive = best_of(lambda ts: [naive_match(x, entries) for x in ts], few, 1)
    assert naive == ours[: len(few)] and plain == ours, "outputs differ"
    scaling = ray_scaling(entries, texts, args.workers, args.repeats)
    rates = {
        "ours": len(texts) / ours_s,
        "plain_pyahocorasick": len(texts) / plain_s,
        "metaclip_naive_loop": len(few) / naive_s,
    }
    result = {
        "benchmark": "query matching",
        **common.stamp(),
        "entries": len(entries),
        "texts": len(texts),
        "naive_texts": len(few),
        "matcher_build_s": round(build_s, 2),
        "texts_per_s": {k: round(v, 1) for k, v in rates.items()},
        "ratio_vs_naive": round(rates["ours"] / rates["metaclip_naive_loop"], 1),
        "ratio_vs_plain": round(rates["ours"] / rates["plain_pyahocorasick"], 3),
        "outputs_identical": True,
        "ray_workers": scaling,
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
