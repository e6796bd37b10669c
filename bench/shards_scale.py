"""The shards job's decision at 1M, 3M and 10M rows: time, driver memory, task memory, and
the planted truth recovered.

Each size: synthetic scan parts with planted duplicates (`openwit sandbox fingerprints`,
written by Ray tasks), then the partitioned decision (`pipeline/shards/partitioned.py`) in a
fresh driver process on a local Ray of this machine's cores, then the audit against the
truth. The driver's peak RSS is its own (`ru_maxrss`); a task's is its worker's peak, an
upper bound. `exponent` is the least-squares slope of log(seconds) on log(rows).

The pHash search runs as a 400M-row job would (two 32-bit bands, radius 2: linear cost);
`--exact-max` also times the default exact search (three 21-bit bands) up to that size, to
show the quadratic term it pays. Writes bench/results/shards_scale.json.
    python -m bench.shards_scale [--sizes 1M,3M,10M] [--exact-max 3M]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench import common
from openwit.core.executor import make_executor, parse_bytes


def generate_task(spec: tuple) -> int:
    from openwit.pipeline.sandbox.fingerprints import FingerprintsConfig, write_part

    cfg, out, part = spec
    return write_part(FingerprintsConfig(**cfg), Path(out), part)


def one(args: argparse.Namespace) -> dict:
    """In its own process: generate, decide, audit one size; prints the result as JSON."""
    from openwit.pipeline.sandbox.fingerprints import FingerprintsConfig, audit, parts
    from openwit.pipeline.shards import partitioned
    from openwit.pipeline.shards.dedup.images import DedupConfig

    rows, work = int(parse_bytes(args.one)), Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    executor = make_executor("ray", num_cpus=args.cpus, task_memory=args.task_memory)
    gen = {"rows": rows, "part_rows": args.part_rows}
    specs = [(gen, str(work), p) for p in range(parts(FingerprintsConfig(**gen)))]
    t0 = time.time()
    list(executor.map(generate_task, specs, "fingerprints"))
    generated = time.time() - t0
    dedup = DedupConfig(phash_bands=args.bands, band_radius=args.radius)
    t0 = time.time()
    result = partitioned.decide(
        sorted((work / "_scan").glob("*.parquet")),
        work,
        dedup,
        None,
        executor,
        seed=0,
        shard_size=1000,
        rows_per_task=args.rows_per_task,
        memory=args.decide_memory,
    )
    seconds = time.time() - t0
    driver_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # Scored in a task: the audit's DuckDB reads every decision, which the driver never does.
    scores = next(iter(executor.map(audit, [work], "audit")))[1]
    executor.shutdown()
    disk = sum(p.stat().st_size for p in (work / "_decide").rglob("*") if p.is_file())
    shutil.rmtree(work, ignore_errors=True)
    return {
        "rows": rows,
        "phash_bands": args.bands,
        "band_radius": args.radius,
        "seconds": round(seconds, 1),
        "generate_seconds": round(generated, 1),
        "driver_peak_bytes": driver_peak,
        "task_peak_bytes": max(result["peaks"].values()),
        "step_seconds": result["seconds"],
        "step_task_peak_bytes": result["peaks"],
        "intermediate_bytes": disk,
        "layout": vars(result["layout"]),
        "kept": result["kept"],
        **{k: (round(v, 5) if isinstance(v, float) else v) for k, v in scores.items()},
    }


def run_size(args: argparse.Namespace, rows: str, bands: int, radius: int | None) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.shards_scale",
        "--one",
        rows,
        "--bands",
        str(bands),
        "--work",
        args.work,
        "--part-rows",
        str(args.part_rows),
        "--cpus",
        str(args.cpus),
        "--rows-per-task",
        str(args.rows_per_task),
        "--task-memory",
        args.task_memory,
    ]
    if radius is not None:
        cmd += ["--radius", str(radius)]
    if args.decide_memory:
        cmd += ["--decide-memory", args.decide_memory]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{rows} rows failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result), file=sys.stderr)
    return result


def exponent(sizes: list[dict]) -> float:
    x = np.log([s["rows"] for s in sizes])
    y = np.log([s["seconds"] for s in sizes])
    return round(float(np.polyfit(x, y, 1)[0]), 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1M,3M,10M")
    p.add_argument("--exact-max", default="3M", help="time the exact search up to this size")
    p.add_argument("--work", default="data/bench/shards_scale")
    p.add_argument("--part-rows", type=int, default=50_000)
    p.add_argument("--rows-per-task", type=int, default=2_000_000)
    p.add_argument("--task-memory", default="3GiB")
    p.add_argument("--decide-memory", default="2GB")
    p.add_argument("--cpus", type=int, default=os.cpu_count())
    p.add_argument("--out", default="bench/results/shards_scale.json")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--bands", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--radius", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return
    names = [s.strip() for s in args.sizes.split(",")]
    sizes = [run_size(args, n, 2, 2) for n in names]
    exact_max = parse_bytes(args.exact_max) or 0
    exact = [run_size(args, n, 3, None) for n in names if parse_bytes(n) <= exact_max]
    limit = parse_bytes(args.task_memory)
    base = sizes[0]["driver_peak_bytes"]
    result = {
        **common.stamp(),
        "command": "python -m bench.shards_scale " + " ".join(sys.argv[1:]),
        "search": "two 32-bit pHash bands, radius 2 (DedupConfig(phash_bands=2, band_radius=2))",
        "exponent": exponent(sizes),
        "driver_peak_ratio": round(max(s["driver_peak_bytes"] for s in sizes) / base, 3),
        "task_memory_bytes": limit,
        "tasks_within_memory": all(s["task_peak_bytes"] <= limit for s in sizes + exact),
        "sizes": sizes,
        "exact_search": {"exponent": exponent(exact) if len(exact) > 1 else None, "sizes": exact},
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
