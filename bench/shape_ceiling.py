"""How well can a model's image tower learn the sandbox's shapes when it is told them?

A diagnostic for the zero-shot shapes goal (docs/train.md): the image tower of `--model`, from
scratch, trained with cross-entropy on labelled single-shape scenes (the evaluation set's kind of
image, new seeds), then tested on held-out scenes. Contrastive training on captions rarely beats
this direct supervision at the same data and compute. Writes bench/results/shape_ceiling.json.
    python -m bench.shape_ceiling [--model train/configs/openwit-tiny.json] [--epochs 4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import open_clip
import torch

from bench import common
from bench.supervised import accuracy_curve
from openwit.pipeline.sandbox.scenes import SHAPES, render, scene_from_seed
from openwit.train import model as models


def scenes(
    n: int, first_seed: int, transform, kind: str = "eval"
) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for i in range(n):
        if kind == "eval":
            scene = scene_from_seed(first_seed + i, shape=SHAPES[i % len(SHAPES)], single=True)
            im = render(scene, 128, 128)
        else:
            scene = scene_from_seed(first_seed + i)
            im = render(scene, 320, 240)
        images.append(transform(im))
        labels.append(SHAPES.index(scene.main.shape))
    return torch.stack(images), torch.tensor(labels)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="openwit-tiny")
    ap.add_argument("--scenes", choices=("eval", "web"), default="eval")
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    model, _, eval_tf, _ = models.create(args.model)
    tower = model.visual
    x, y = scenes(args.train, 10**6, eval_tf, args.scenes)
    x_test, y_test = scenes(args.test, 2 * 10**6, eval_tf)
    width = open_clip.get_model_config(models.register(args.model))["embed_dim"]
    start = time.time()
    curve = accuracy_curve(tower, width, len(SHAPES), (x, y), (x_test, y_test), args.epochs)
    common.write(
        args.out or f"bench/results/shape_ceiling_{Path(args.model).stem}_{args.scenes}.json",
        {
            "benchmark": "supervised shape ceiling of an image tower",
            **common.stamp(),
            "model": args.model,
            "train_scenes": args.scenes,
            "train_images": args.train,
            "test_images": args.test,
            "classes": len(SHAPES),
            "chance": round(1 / len(SHAPES), 3),
            "test_accuracy_per_epoch": curve,
            "seconds": round(time.time() - start, 1),
        },
    )


if __name__ == "__main__":
    main()
