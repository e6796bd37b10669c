"""End to end: wall time and peak memory of crawl -> shards -> train on the default sandbox,
what `make crawl && make shards && make train` runs, into fresh folders under data/bench/e2e.

The sandbox and the query list are one-time set-up (built first if missing, and timed apart).
Memory is the peak of the summed proportional set size (PSS) of the whole process tree (Ray
workers, data loaders and servers included; shared pages counted once), sampled every second.
Writes bench/results/end_to_end.json.
    python -m bench.end_to_end [--epochs N]   (defaults: what make train runs)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from bench import common

OUT = Path("data/bench/e2e")
RUN = "bench-e2e"


class PeakMemory:
    """Peak summed PSS of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 1.0):
        self.root, self.every, self.peak = psutil.Process(pid), every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += p.memory_full_info().pss
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def stage(cmd: list[str]) -> dict:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mem = PeakMemory(proc.pid)
    log = proc.communicate()[0]
    peak = mem.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{log[-3000:]}")
    return {"seconds": round(time.perf_counter() - t, 1), "peak_pss_gib": round(peak / 2**30, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=None, help="train epochs (default: make train's)")
    ap.add_argument("--out", default="bench/results/end_to_end.json")
    args = ap.parse_args()
    cli = [sys.executable, "-m", "openwit.cli"]
    setup = {}
    if not Path("data/sandbox/sandbox.json").is_file():
        setup["sandbox"] = stage([*cli, "sandbox", "build"])
    if not Path("data/queries/LATEST").is_file():
        setup["queries"] = stage([*cli, "queries", "build"])
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.rmtree(Path("data/train") / RUN, ignore_errors=True)
    crawl, shards = str(OUT / "crawl"), str(OUT / "shards")
    train = [*cli, "train", "--shards", shards, "--run", RUN]
    train += ["--epochs", str(args.epochs)] if args.epochs else []
    stages = {
        "crawl": stage([*cli, "crawl", "--out", crawl]),
        "shards": stage([*cli, "shards", "--crawl", crawl, "--out", shards]),
        "train": stage(train),
    }
    summary = json.loads((OUT / "shards" / "_summary.json").read_text())
    total = sum(s["seconds"] for s in stages.values())
    evals = json.loads((Path("data/train") / RUN / "eval.json").read_text())
    result = {
        "benchmark": "end to end: crawl -> shards -> train, default sandbox",
        **common.stamp(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "setup": setup,
        "stages": stages,
        "seconds": round(total, 1),
        "minutes": round(total / 60, 2),
        "peak_pss_gib": max(s["peak_pss_gib"] for s in stages.values()),
        "samples": summary["kept"],
        "scanned_images": summary["sandbox_audit"]["scanned_images"],
        "zero_shot_top1": {k: v["top1"] for k, v in evals["zero_shot"].items()},
        "goal_minutes": 15,
        "met": total <= 15 * 60,
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
