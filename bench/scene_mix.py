"""Which mix of scenes teaches a contrastive model shapes? A fast stand-in for `make train`.

Renders sandbox scenes in memory (no crawl), captions them the way the sandbox does, trains
`--model` with the CLIP loss for `--steps` batches and reports zero-shot shapes and colours on
the sandbox's evaluation sets. Object sizes can be overridden, to compare scene mixes at the
same compute in ~3 minutes instead of a full crawl + shards + train (docs/train.md).
    python -m bench.scene_mix --steps 550 [--radius 0.09,0.15,0.24] [--weights 1,1,1] [--tag base]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench import common
from openwit.pipeline.sandbox import captions, scenes
from openwit.pipeline.sandbox.evalset import TEMPLATES
from openwit.train import evaluate, optim
from openwit.train import loss as losses
from openwit.train import model as models
from openwit.train.augment import CropResize


def render_all(n: int, side: int) -> tuple[np.ndarray, list[scenes.Scene]]:
    """n served-style scenes at 320x240, resized to height `side` (4:3), as uint8 HWC."""
    specs = [scenes.scene_from_seed(10**6 + i) for i in range(n)]
    size = (side * 4 // 3 + 1, side)
    images = [np.asarray(scenes.render(s, 320, 240).resize(size, Image.BILINEAR)) for s in specs]
    return np.stack(images), specs


def zero_shot(model, tokenizer, transform, eval_dir: Path) -> dict[str, float]:
    out = {}
    for name, labels in (("shapes", scenes.SHAPES), ("colours", tuple(scenes.COLOURS))):
        paths = sorted((eval_dir / name).glob("*/*.jpg"))
        y = [labels.index(p.parent.name) for p in paths]
        with torch.no_grad():
            feats = evaluate.encode_images(model, transform, paths, "cpu")
            w = evaluate.classifier(model, tokenizer, list(labels), TEMPLATES[name], "cpu")
        out[name] = round(evaluate.zero_shot(feats, y, w)[0]["top1"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="openwit-tiny-rn")
    ap.add_argument("--scenes", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=550)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--radius", help="small,medium,large radius as a share of the short side")
    ap.add_argument("--weights", help="small,medium,large draw weights")
    ap.add_argument("--eval-dir", default="data/sandbox/eval")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="current")
    args = ap.parse_args()
    if args.radius:
        scenes._RADIUS.update(zip(scenes.SIZES, map(float, args.radius.split(",")), strict=True))
    if args.weights:
        w = np.array([float(x) for x in args.weights.split(",")])
        scenes.SIZE_WEIGHTS = tuple(w / w.sum())
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    start = time.time()
    model, train_tf, eval_tf, tok = models.create(args.model)
    side = models.image_side(model)
    norm = CropResize.from_transform(train_tf)  # the model's own normalisation, per batch
    images, specs = render_all(args.scenes, side)
    opt = torch.optim.AdamW(optim.param_groups(model, 0.1), lr=args.lr)
    loss_fn = losses.ClipLoss()
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = optim.lr_at(step, args.lr, 40, args.steps)
        idx = rng.choice(len(images), args.batch, replace=False)
        left = rng.integers(0, images.shape[2] - side + 1, args.batch)  # a random square crop
        crops = np.stack([images[i][:, x : x + side] for i, x in zip(idx, left, strict=True)])
        x = norm.normalize(torch.from_numpy(crops).permute(0, 3, 1, 2))
        out = model(x, tok([captions.english(specs[i], rng) for i in idx]))
        loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, np.log(100))
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    model.eval()
    result = zero_shot(model, tok, eval_tf, Path(args.eval_dir))
    print(result, flush=True)
    common.write(
        f"bench/results/scene_mix_{args.tag}.json",
        {
            "benchmark": "zero-shot shapes after contrastive training on a scene mix",
            **common.stamp(),
            "model": args.model,
            "radius": dict(scenes._RADIUS),
            "size_weights": [round(float(x), 3) for x in scenes.SIZE_WEIGHTS],
            "scenes": args.scenes,
            "steps": args.steps,
            "batch": args.batch,
            "seed": args.seed,
            "zero_shot_top1": result,
            "seconds": round(time.time() - start, 1),
        },
    )


if __name__ == "__main__":
    main()
