"""How well can the default image tower tell the sandbox's clip-art categories apart when it
is told them?

A diagnostic for the zero-shot clip-art goal (docs/train.md), like bench/shape_ceiling.py: the
image tower of `--model`, from scratch, trained with class-balanced cross-entropy on labelled
drawings, then tested on the evaluation set's 156 held-out drawings (13 categories, the very
images `openwit eval` scores). Three pools of training drawings:
- shards:    those that reached the shards (`--shards`), i.e. what `make train` learns from;
- served:    every drawing the sandbox serves (what a perfect crawl could keep);
- catalogue: every drawing of Debian's package not held out, look-alikes of held-out ones left
             out (what any sandbox built from the package could serve).
Zero-shot from captions rarely beats direct supervision on the same drawings.
    python -m bench.clipart_ceiling [--pool shards|served|catalogue] [--shards data/shards]
        [--crawl data/crawl] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import open_clip
import pyarrow.parquet as pq
import torch
from PIL import Image

from bench import common
from bench.supervised import accuracy_curve
from openwit.pipeline.sandbox import clipart
from openwit.pipeline.sandbox.config import SandboxConfig
from openwit.pipeline.sandbox.evalset import CLIPART_CLASSES, flatten, make_items
from openwit.train import model as models

CLASSES = list(CLIPART_CLASSES)


def pool_paths(pool: str, sandbox: Path, shards: Path, crawl: Path) -> list[str]:
    """Clip paths (relative to the package's png/) of the served or the shards' drawings."""
    truth = sandbox / "truth" / "candidates.parquet"
    if pool == "served":
        sql = f"select distinct clip_path from '{truth}' where asset_kind = 'clip' order by 1"
    else:
        sql = f"""select distinct t.clip_path from '{truth}' t
            join read_parquet('{crawl}/0*.parquet') c on c.url = t.url and c.page_url = t.page_url
            join read_parquet('{shards}/_decisions/*.parquet') d on d.key = c.key
            where t.asset_kind = 'clip' and d.drop_stage is null order by 1"""
    return [r[0] for r in duckdb.sql(sql).fetchall()]


def load(paths: list[str], root: Path, transform) -> torch.Tensor:
    """Images under `root`, each on white in a 224 square as the evaluation set draws them (a
    no-op for its JPEGs, already flat and square)."""

    def one(rel: str) -> torch.Tensor:
        with Image.open(root / rel) as im:
            return transform(flatten(im, 224))

    with ThreadPoolExecutor(4) as pool:  # PIL decodes without the GIL
        return torch.stack(list(pool.map(one, paths)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="openwit-tiny-rn")
    ap.add_argument("--pool", choices=("shards", "served", "catalogue"), default="shards")
    ap.add_argument("--sandbox", default="data/sandbox")
    ap.add_argument("--shards", default="data/shards")
    ap.add_argument("--crawl", default="data/crawl")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    sandbox = Path(args.sandbox)
    cfg = SandboxConfig.from_json(json.loads((sandbox / "sandbox.json").read_text())["config"])
    root = Path(cfg.clipart_dir)
    clips = clipart.catalogue(root)
    _, held = make_items(cfg, clips)
    by_path = {c.path: c for c in clips}
    if args.pool == "catalogue":
        rest = [c for c in clips if c.path not in held and c.category in CLASSES]
        kept = clipart.distinct(rest, len(rest), [by_path[p] for p in held], root)
    else:
        paths = pool_paths(args.pool, sandbox, Path(args.shards), Path(args.crawl))
        kept = [by_path[p] for p in paths if p in by_path and by_path[p].category in CLASSES]
    model, _, eval_tf, _ = models.create(args.model)
    x = load([c.path for c in kept], root / "png", eval_tf)
    y = torch.tensor([CLASSES.index(c.category) for c in kept])
    labels = pq.read_table(sandbox / "eval" / "clipart" / "labels.parquet").to_pylist()
    x_test = load([r["path"] for r in labels], sandbox / "eval", eval_tf)
    y_test = torch.tensor([CLASSES.index(r["label"]) for r in labels])
    counts = torch.bincount(y, minlength=len(CLASSES)).float()
    # The evaluation set has 12 drawings of every category; the pools are far from balanced.
    weight = torch.where(counts > 0, counts.sum() / (len(CLASSES) * counts.clamp(min=1)), 0.0)
    width = open_clip.get_model_config(models.register(args.model))["embed_dim"]
    start = time.time()
    curve = accuracy_curve(
        model.visual, width, len(CLASSES), (x, y), (x_test, y_test), args.epochs, weight, flip=True
    )
    common.write(
        args.out or f"bench/results/clipart_ceiling_{args.pool}_s{args.seed}.json",
        {
            "benchmark": "supervised clip-art ceiling of an image tower",
            **common.stamp(),
            "model": args.model,
            "pool": args.pool,
            "seed": args.seed,
            "train_images": len(kept),
            "train_per_class": dict(zip(CLASSES, counts.int().tolist(), strict=True)),
            "test_images": len(labels),
            "chance": round(1 / len(CLASSES), 3),
            "test_accuracy_per_epoch": curve,
            "best": max(curve),
            "last5_mean": round(float(np.mean(curve[-5:])), 3),
            "seconds": round(time.time() - start, 1),
        },
    )


if __name__ == "__main__":
    main()
