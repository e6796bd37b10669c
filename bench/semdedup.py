"""Semantic dedup on the default sandbox: what it finds against the truth, and what it costs.

Two costs, each the semantic steps' seconds (`_summary.json` seconds.semdedup) over the
wall time of the `openwit shards` run it adds to, timed in this run:
  alone   `--semdedup T --semdedup-with C` on the end-to-end run's scan: it embeds every
          image the other steps kept (decode, resize, forward pass), against `make shards`
          (`openwit shards` with its defaults on the end-to-end crawl, into a fresh folder)
  shared  with `--score-with C` too: the scan embeds each image once for the score and keeps
          the embedding, so semantic dedup only clusters; against `openwit shards
          --score-with C` (timed here, scan included)
It also times the model's load in a fresh process (what each worker pays once, whatever
the crawl's size) and reports the alone share without it.
The sandbox plants semantic duplicates (an emoji scene drawn again in the other served
style); `audit_shards` scores the drops against them. Writes bench/results/semdedup.json.
    python -m bench.end_to_end        # first: the crawl, the shards and a checkpoint
    python -m bench.semdedup [--checkpoint C] [--thresholds 0.98,0.99,0.995] [--shared 0.99]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import common

E2E = Path("data/bench/e2e")


def latest_checkpoint(run: Path) -> Path:
    found = sorted((run / "checkpoints").glob("step-*.pt"))
    if not found:
        sys.exit(f"no checkpoint in {run}/checkpoints: run `python -m bench.end_to_end` first")
    return found[-1]


def shards(out: Path, *args: str, scan_of: Path | None = None) -> tuple[dict, float]:
    """`openwit shards` on the end-to-end crawl into a fresh `out` (on `scan_of`'s scan when
    given, so only the decision runs); its summary and wall seconds."""
    shutil.rmtree(out, ignore_errors=True)
    if scan_of is not None:
        shutil.copytree(scan_of / "_scan", out / "_scan")
    cmd = [sys.executable, "-m", "openwit.cli", "shards", "--crawl", str(E2E / "crawl")]
    t = time.perf_counter()
    subprocess.run([*cmd, "--out", str(out), *args], check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "_summary.json").read_text()), time.perf_counter() - t


def model_load_seconds(ckpt: str) -> float:
    """A fresh process's import of torch and open_clip and load of the checkpoint: what each
    worker pays once, however large the crawl."""
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from openwit.pipeline.shards.model_score import ModelScorer\n"
        "ModelScorer(sys.argv[1]); print(time.perf_counter() - t)"
    )
    run = subprocess.run([sys.executable, "-c", code, ckpt], capture_output=True, text=True)
    return round(float(run.stdout.split()[-1]), 2)


def row(s: dict, threshold: float, kept_without: int, against: float) -> dict:
    audit = s["sandbox_audit"]
    steps = {k: v for k, v in s.get("decide_steps", {}).items() if k.startswith("sem_")}
    return {
        "threshold": threshold,
        "kept": s["kept"],
        "kept_without": kept_without,
        **{k: v for k, v in audit.items() if k.startswith("semantic_dup")},
        "near_dup_precision": audit["near_dup_precision"],
        "semdedup_seconds": s["seconds"]["semdedup"],
        "steps": steps,
        "share": round(s["seconds"]["semdedup"] / against, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--thresholds", default="0.98,0.99,0.995")
    ap.add_argument("--shared", type=float, default=0.99, help="threshold of the shared run")
    ap.add_argument("--out", default="bench/results/semdedup.json")
    args = ap.parse_args()
    ckpt = str(args.checkpoint or latest_checkpoint(Path("data/train/bench-e2e")))
    base = E2E / "shards"
    if not (base / "_summary.json").is_file():
        sys.exit(f"{base} holds no finished shards: run `python -m bench.end_to_end` first")
    # `make shards` timed here, in the same run as the rest: this box's speed moves by a
    # quarter between days, so a time from another run would skew the share.
    _, make_shards = shards(E2E / "make-shards")
    kept = json.loads((base / "_summary.json").read_text())["kept"]
    alone = []
    for t in [float(x) for x in args.thresholds.split(",")]:
        s, _ = shards(
            E2E / f"semdedup-{t}", "--semdedup", str(t), "--semdedup-with", ckpt, scan_of=base
        )
        alone.append(row(s, t, kept, make_shards))
        print(json.dumps(alone[-1]))
    scored, scored_seconds = shards(E2E / "scored", "--score-with", ckpt)
    sem = ["--score-with", ckpt, "--semdedup", str(args.shared)]
    s, _ = shards(E2E / f"scored-semdedup-{args.shared}", *sem, scan_of=E2E / "scored")
    shared = row(s, args.shared, scored["kept"], scored_seconds)
    print(json.dumps(shared))
    load = model_load_seconds(ckpt)
    # Each worker loads the model once, in parallel with the others: the per-image part
    # of the cost is what a crawl of any size pays in proportion to its rows.
    per_image = [a["semdedup_seconds"] - load for a in alone]
    result = {
        **common.stamp(),
        "checkpoint": ckpt,
        "model_load_seconds": load,
        "share_without_load": round(min(per_image) / make_shards, 3),
        "make_shards_seconds": round(make_shards, 1),
        "shards_with_score_seconds": round(scored_seconds, 1),
        "planted": s["sandbox_audit"].get("semantic_dups_removable"),
        "alone": alone,
        "shared": shared,
        "target_share": 0.10,
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
