"""Semantic dedup on the default sandbox: what it finds against the truth, and what it costs.

Runs `openwit shards --semdedup T` at each threshold on the end-to-end run's crawl, reusing
that run's scan (so only the decision runs again), with a checkpoint the project trained.
The sandbox plants semantic duplicates (an emoji scene drawn again in the other served
style); `audit_shards` scores the drops against them. Cost: the semantic steps' seconds
(embedding included) against the whole `make shards` of the end-to-end run.
Writes bench/results/semdedup.json.
    python -m bench.end_to_end        # first: the crawl, the shards and a checkpoint
    python -m bench.semdedup [--checkpoint C] [--thresholds 0.98,0.99,0.995]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench import common

E2E = Path("data/bench/e2e")


def latest_checkpoint(run: Path) -> Path:
    found = sorted((run / "checkpoints").glob("step-*.pt"))
    if not found:
        sys.exit(f"no checkpoint in {run}/checkpoints: run `python -m bench.end_to_end` first")
    return found[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--thresholds", default="0.98,0.99,0.995")
    ap.add_argument("--out", default="bench/results/semdedup.json")
    args = ap.parse_args()
    ckpt = args.checkpoint or latest_checkpoint(Path("data/train/bench-e2e"))
    crawl, base = E2E / "crawl", E2E / "shards"
    if not (base / "_summary.json").is_file():
        sys.exit(f"{base} holds no finished shards: run `python -m bench.end_to_end` first")
    e2e = json.loads(Path("bench/results/end_to_end.json").read_text())
    make_shards = e2e["stages"]["shards"]["seconds"]
    baseline = json.loads((base / "_summary.json").read_text())
    rows = []
    for t in [float(x) for x in args.thresholds.split(",")]:
        out = E2E / f"semdedup-{t}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(base / "_scan", out / "_scan")
        cmd = [sys.executable, "-m", "openwit.cli", "shards", "--crawl", str(crawl)]
        cmd += ["--out", str(out), "--semdedup", str(t), "--semdedup-with", str(ckpt)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        s = json.loads((out / "_summary.json").read_text())
        audit = s["sandbox_audit"]
        rows.append(
            {
                "threshold": t,
                "kept": s["kept"],
                "kept_without": baseline["kept"],
                **{k: v for k, v in audit.items() if k.startswith("semantic_dup")},
                "near_dup_precision": audit["near_dup_precision"],
                "semdedup_seconds": s["seconds"]["semdedup"],
                "share_of_make_shards": round(s["seconds"]["semdedup"] / make_shards, 3),
            }
        )
        print(json.dumps(rows[-1]))
    result = {
        **common.stamp(),
        "checkpoint": str(ckpt),
        "make_shards_seconds": make_shards,
        "planted": baseline["sandbox_audit"].get("semantic_dups_removable"),
        "thresholds": rows,
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
