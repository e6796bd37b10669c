"""Semantic dedup on the default sandbox: what it finds against the truth, and what it costs.

Two costs, each the semantic steps' seconds (`_summary.json` seconds.semdedup) over the
wall time of the `openwit shards` run it adds to, timed in this run:
  alone   `--semdedup T --semdedup-with C` on the end-to-end run's scan: it embeds every
          image the other steps kept (decode, resize, forward pass), against `make shards`
          (`openwit shards` with its defaults on the end-to-end crawl, into a fresh folder)
  shared  with `--score-with C` too: the scan embeds each image once for the score and keeps
          the embedding, so semantic dedup only clusters; against `openwit shards
          --score-with C` (timed here, scan included)
Each run's summary also gives the workers' model load, timed inside the job
(`semdedup_model_load`: paid once per worker, whatever the crawl's size), so each row also
has its share without the load and the embedding's core-milliseconds per image. The
workers embed with the checkpoint's ONNX image tower (`embedder`); one more run at the
shared threshold, on a copy of the checkpoint without it, rebuilds the model with open_clip
instead (`alone_open_clip`: its cost, and how many of the drops are the same).
The sandbox plants semantic duplicates (an emoji scene drawn again in the other served
style); `audit_shards` scores the drops against them. Writes bench/results/semdedup.json.
    python -m bench.end_to_end        # first: the crawl, the shards and a checkpoint
    python -m bench.semdedup [--checkpoint C] [--thresholds 0.98,0.99,0.995] [--shared 0.99]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np
import pyarrow.parquet as pq

from bench import common
from openwit.core.image_tower import OnnxTower
from openwit.pipeline.sandbox.audit_shards import planted_truth, seen_by_semdedup
from openwit.pipeline.shards.dedup.semantic_tasks import matrix

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


def separability(run: Path, scan_of: Path, sandbox: Path = Path("data/sandbox")) -> dict:
    """How far apart the embedder puts what the sandbox planted as one scene. Over the rows
    semantic dedup saw in `run` (kept, or dropped as semantic_dup), with the embeddings the
    scan of `scan_of` kept (`--score-with`, the same model): the cosine of each planted
    redraw pair, of pairs of other scenes of the very same concepts, and how often a
    redraw's nearest neighbour is its own partner. A threshold can only find the redraws
    if the first sits above the second."""
    truth = planted_truth(sandbox)
    cols = ["key", "page_url", "url", "status", "drop_reason"]
    seen = {
        r["key"]: truth[(r["page_url"], r["url"])]
        for r in pq.read_table(run / "candidates.parquet", columns=cols).to_pylist()
        if seen_by_semdedup(r)
    }
    keys, vectors = [], []
    for part in sorted((scan_of / "_scan").glob("*.parquet")):
        stored = pq.read_table(scan_of / "_scan" / "embeddings" / part.name)
        part_keys = pq.read_table(part, columns=["key"]).column("key").to_pylist()
        emb = matrix(stored)
        for r, e in zip(stored.column("row").to_pylist(), emb, strict=True):
            if part_keys[r] in seen and seen[part_keys[r]].get("emoji_seed") is not None:
                keys.append(part_keys[r])
                vectors.append(e)
    x = np.stack(vectors)
    scene = np.array([seen[k]["emoji_seed"] for k in keys])
    concepts = [tuple(sorted(seen[k]["emoji_concepts"])) for k in keys]
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    planted = [(i, j) for i in range(len(x)) for j in np.flatnonzero(scene == scene[i]) if i < j]
    by_concepts: dict[tuple, list[int]] = {}
    for i, c in enumerate(concepts):
        by_concepts.setdefault(c, []).append(i)
    same = [
        (i, j)
        for group in by_concepts.values()
        for a, i in enumerate(group)
        for j in group[a + 1 :]
        if scene[i] != scene[j]
    ]

    def quartiles(pairs) -> list[float]:
        v = np.array([sim[i, j] for i, j in pairs])
        return np.percentile(v, [10, 50, 90]).round(3).tolist() if len(v) else []

    nearest = sim.argmax(axis=1)
    return {
        "emoji_rows": len(x),
        "planted_pairs": len(planted),
        "planted_cosine_p10_p50_p90": quartiles(planted),
        "same_concepts_other_scene_cosine_p10_p50_p90": quartiles(same),
        "partner_is_nearest": round(float(np.mean([nearest[i] == j for i, j in planted])), 3)
        if planted
        else None,
    }


def semantic_drops(run: Path) -> set[str]:
    t = pq.read_table(run / "candidates.parquet", columns=["key", "drop_reason"])
    return {r["key"] for r in t.to_pylist() if r["drop_reason"] == "semantic_dup"}


def row(s: dict, threshold: float, kept_without: int, against: float) -> dict:
    audit = s["sandbox_audit"]
    steps = {k: v for k, v in s.get("decide_steps", {}).items() if k.startswith("sem_")}
    load = s.get("semdedup_model_load", 0.0)
    return {
        "threshold": threshold,
        "kept": s["kept"],
        "kept_without": kept_without,
        **{k: v for k, v in audit.items() if k.startswith("semantic_dup")},
        "near_dup_precision": audit["near_dup_precision"],
        "semdedup_seconds": s["seconds"]["semdedup"],
        "steps": steps,
        "share": round(s["seconds"]["semdedup"] / against, 3),
        # The workers' model load, timed inside the same run: paid once per worker, however
        # large the crawl; the rest grows with the rows.
        "model_load_seconds": load,
        "share_without_load": round((s["seconds"]["semdedup"] - load) / against, 3),
        "embed_core_ms_per_image": round(
            (steps["sem_embed"] - load) * os.cpu_count() / max(1, kept_without) * 1e3, 3
        ),
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
    # The same step with the model rebuilt by open_clip in each worker (the checkpoint
    # copied without its ONNX tower): what the tower saves, and whether it drops the same.
    bare = E2E / "open-clip-checkpoint" / Path(ckpt).name
    bare.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ckpt, bare)
    t = float(args.shared)
    s, _ = shards(
        E2E / "semdedup-open-clip", "--semdedup", str(t), "--semdedup-with", str(bare), scan_of=base
    )
    torch_row = row(s, t, kept, make_shards)
    if (E2E / f"semdedup-{t}").is_dir():  # the ONNX run at the same threshold
        same = semantic_drops(E2E / f"semdedup-{t}"), semantic_drops(E2E / "semdedup-open-clip")
        torch_row["same_drops_as_onnx"] = f"{len(same[0] & same[1])} of {len(same[0] | same[1])}"
    print(json.dumps(torch_row))
    scored, scored_seconds = shards(E2E / "scored", "--score-with", ckpt)
    sem = ["--score-with", ckpt, "--semdedup", str(args.shared)]
    s, _ = shards(E2E / f"scored-semdedup-{args.shared}", *sem, scan_of=E2E / "scored")
    shared = row(s, args.shared, scored["kept"], scored_seconds)
    print(json.dumps(shared))
    apart = separability(E2E / f"scored-semdedup-{args.shared}", E2E / "scored")
    print(json.dumps(apart))
    result = {
        **common.stamp(),
        "checkpoint": ckpt,
        "embedder": "onnxruntime" if OnnxTower.beside(ckpt) else "open_clip",
        "share_median": median(a["share"] for a in alone),
        "share_without_load_median": median(a["share_without_load"] for a in alone),
        "make_shards_seconds": round(make_shards, 1),
        "shards_with_score_seconds": round(scored_seconds, 1),
        "planted": s["sandbox_audit"].get("semantic_dups_removable"),
        "alone": alone,
        "alone_open_clip": torch_row,
        "shared": shared,
        "separability": apart,
        "target_share": 0.10,
    }
    common.write(args.out, result)


if __name__ == "__main__":
    main()
