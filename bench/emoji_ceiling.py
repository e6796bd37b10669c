"""The supervised ceiling of the real-concept evaluations: the default image tower, from
scratch, trained with labels on the served images of those classes, then scored on the very
images `openwit eval` scores.

- emoji / emoji_shift: every served emoji image showing one concept of the 256 evaluated
  (rendered from its truth row as the server draws it), labelled with that concept; tested on
  eval/emoji (served styles, compositions never served) and eval/emoji_shift (OpenMoji).
- animals: the served emoji images of the 10 animals animal-shape-mnist has; tested on its
  silhouettes. Zero-shot ÷ this ceiling is what docs/train.md reports.
    python -m bench.emoji_ceiling [--sandbox data/sandbox] [--epochs 15] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import open_clip
import pyarrow.parquet as pq
import torch
from PIL import Image

from bench import common
from bench.supervised import accuracy_curves
from openwit.pipeline.sandbox import emoji, sources
from openwit.pipeline.sandbox.assets import base_image
from openwit.train import model as models


def _served(sandbox: Path, wanted: dict[int, int]) -> tuple[list[dict], list[int]]:
    """Served single-concept emoji rows whose concept is wanted, and their class indices."""
    rows = pq.read_table(sandbox / "truth" / "images.parquet").to_pylist()
    keep = [
        r
        for r in rows
        if r["asset_kind"] == "emoji"
        and len(r["emoji_concepts"]) == 1
        and r["emoji_concepts"][0] in wanted
        and r["transform"] == "none"
    ]
    return keep, [wanted[r["emoji_concepts"][0]] for r in keep]


def _tensor(images, transform) -> torch.Tensor:
    with ThreadPoolExecutor(4) as pool:
        return torch.stack(list(pool.map(lambda im: transform(im.convert("RGB")), images)))


def _folder(sandbox: Path, name: str, classes: list[str], transform):
    labels = pq.read_table(sandbox / "eval" / name / "labels.parquet").to_pylist()
    ims = []
    for r in labels:
        with Image.open(sandbox / "eval" / r["path"]) as im:
            ims.append(im.copy())
    return _tensor(ims, transform), torch.tensor([classes.index(r["label"]) for r in labels])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="openwit-tiny-rn")
    ap.add_argument("--sandbox", default="data/sandbox")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    sandbox = Path(args.sandbox)
    classes_json = json.loads((sandbox / "eval" / "classes.json").read_text())
    cat = emoji.catalogue()
    by_label = {c.label: i for i, c in enumerate(cat)}
    result = {"benchmark": "supervised ceiling of the real-concept evaluations", **common.stamp()}
    result |= {"model": args.model, "seed": args.seed, "sets": {}}
    width = open_clip.get_model_config(models.register(args.model))["embed_dim"]
    plans = {
        "emoji": (list(classes_json["emoji"]), ("emoji", "emoji_shift")),
        "animals": (list(sources.ANIMAL_NAMES), ("animals",)),
    }
    for labels, test_sets in plans.values():
        wanted = {by_label[label]: k for k, label in enumerate(labels) if label in by_label}
        rows, y = _served(sandbox, wanted)
        model, _, eval_tf, _ = models.create(args.model)
        start = time.time()
        x = _tensor([base_image(r, sandbox, Path("/nonexistent")) for r in rows], eval_tf)
        tests = {t: _folder(sandbox, t, labels, eval_tf) for t in test_sets}
        curves = accuracy_curves(
            model.visual, width, len(labels), (x, torch.tensor(y)), tests, args.epochs, flip=True
        )
        for test, curve in curves.items():
            result["sets"][test] = {
                "train_images": len(rows),
                "classes": len(labels),
                "classes_with_training_images": len(set(y)),
                "chance": round(1 / len(labels), 4),
                "test_accuracy_per_epoch": curve,
                "best": max(curve),
                "seconds": round(time.time() - start, 1),
            }
    common.write(f"bench/results/emoji_ceiling_s{args.seed}.json", result)


if __name__ == "__main__":
    main()
