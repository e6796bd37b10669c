"""Trainer throughput: `openwit train` (train.trainer) vs `open_clip_train.main`, same shards,
same model config, same batch, one process each, one data worker each, fp32.

Steady state: samples per second of training steps after the first `--skip` steps (start-up,
shuffle buffers and the first batches left out); the median of `--repeats` alternating runs.
Writes bench/results/train.json.
    python -m bench.train [--shards data/shards] [--model openwit-tiny-rn] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from bench import common
from bench import peer as open_clip_peer

CONFIGS = Path(__file__).resolve().parents[1] / "train" / "configs"


def ours(model: Path, shards: str, steps: int, batch: int, skip: int, tmp: Path) -> float:
    out = tmp / "ours"
    cmd = [
        sys.executable,
        "-m",
        "openwit.train.trainer",
        "--shards",
        shards,
        "--out",
        str(out),
        "--model",
        str(model),
        "--batch-size",
        str(batch),
        "--workers",
        "1",
        "--max-steps",
        str(steps),
        "--log-every",
        "1",
        "--checkpoint-every",
        str(10**9),
        "--precision",
        "fp32",
        "--crop",  # open_clip_train's augmentation, so both do the same work per sample
        "resized",
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r and r["step"] >= skip]
    return (rows[-1]["step"] - rows[0]["step"]) * batch / (rows[-1]["time"] - rows[0]["time"])


def peer(model: Path, shards: str, steps: int, batch: int, skip: int, tmp: Path) -> float:
    cmd = open_clip_peer.command(
        shards, model, tmp / "peer", batch, samples=steps * batch, log_every=1
    )
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    times = open_clip_peer.batch_seconds(run.stdout + run.stderr)
    return batch / statistics.mean(times[skip:] or times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", default="data/shards")
    ap.add_argument(
        "--model",
        default="openwit-tiny-rn",
        choices=sorted(p.stem for p in CONFIGS.glob("*.json")),
        help="a config in train/configs/ (default: make train's model)",
    )
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--skip", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench/results/train.json")
    args = ap.parse_args()
    runs: dict[str, list[float]] = {"ours": [], "open_clip_train": []}
    for r in range(args.repeats):  # alternating, so drift on the box hits both alike
        with tempfile.TemporaryDirectory() as tmp:
            same = (
                CONFIGS / f"{args.model}.json",
                args.shards,
                args.steps,
                args.batch_size,
                args.skip,
                Path(tmp),
            )
            runs["ours"].append(ours(*same))
            runs["open_clip_train"].append(peer(*same))
        print(f"run {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in runs.items()), flush=True)
    rate_ours = statistics.median(runs["ours"])
    rate_peer = statistics.median(runs["open_clip_train"])
    result = {
        "benchmark": "trainer throughput",
        **common.stamp(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "model": args.model,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "samples_per_s": {"ours": round(rate_ours, 1), "open_clip_train": round(rate_peer, 1)},
        "runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
        "ratio": round(rate_ours / rate_peer, 3),
        "goal": 1.0,
        "met": rate_ours >= rate_peer,
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
