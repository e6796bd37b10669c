"""Evaluation sets, made like the web's images but never served (save planted copies).

- shapes:    one shape class per image (zero-shot over 10 shape names)
- colours:   one colour class per image (zero-shot over 10 colour names)
- clipart:   held-out openclipart drawings, labelled by top-level category
- retrieval: scenes with an English caption each (image<->text retrieval)
- emoji:       the most popular emoji concepts, one per image, in a served style (Noto or
               Twemoji) but in compositions never served; named by CLDR (K-way zero-shot)
- emoji_shift: the same concepts in OpenMoji, a style never served (distribution shift)
- animals:     animal-shape-mnist's silhouettes of 10 animals: another domain, never served

Each set is an image folder, `eval/<set>/<label>/<id>.jpg`, the layout torchvision's
ImageFolder and `openwit eval --folder` read, plus `eval/<set>/labels.parquet`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from openwit.core.io import atomic_write_text
from openwit.pipeline.sandbox import captions, emoji, sources
from openwit.pipeline.sandbox.clipart import Clip
from openwit.pipeline.sandbox.config import SandboxConfig
from openwit.pipeline.sandbox.scenes import COLOURS, SHAPES, render, scene_from_seed

EVAL_SIZE = 224
_EVAL_SEED_BASE = 2_000_000_000  # disjoint from the served scenes' seeds (< 2**31 - this)
# Category folder -> the names a prompt uses ("a drawing of a {}."): a plain noun and the
# category's own name, ensembled (train/evaluate.py averages every name through every template).
CLIPART_CLASSES = {
    "animals": ["animal", "animals"],
    "buildings": ["building", "buildings"],
    "computer": ["computer icon", "computer"],
    "food": ["food"],
    "geography": ["map", "geography"],
    "office": ["office supply", "office"],
    "people": ["person", "people"],
    "plants": ["plant", "plants"],
    "recreation": ["toy or game", "recreation"],
    "shapes": ["geometric shape", "shapes"],
    "signs_and_symbols": ["sign or symbol", "signs and symbols"],
    "tools": ["tool", "tools"],
    "transportation": ["vehicle", "transportation"],
}

# Zero-shot prompts per set (CLIP §3.1.4: an ensemble of phrasings, averaged), in the words the
# web's alt texts use, as CLIP's authors tuned theirs to each dataset.
TEMPLATES = {
    # The web's alt texts name a shape with its colour ("a red heart"); a prompt without one is
    # text the tower has rarely seen. Averaging over every colour, as CLIP's ensembles average
    # over "big" and "small", named shapes better than the colourless five on every model
    # compared (docs/train.md).
    "shapes": [f"a {c} {{}}." for c in COLOURS]
    + [f"a large {c} {{}} on a background." for c in COLOURS],
    "colours": [
        "a {} shape on a background.",
        "a large {} shape.",
        "a picture showing a {} shape.",
        "something {} on a background.",
        "a {} object.",
    ],
    "clipart": [
        "clip art of a {}.",
        "a drawing of a {}.",
        "an illustration of a {}.",
        "a picture of a {}.",
        "{}",
    ],
    # The phrasings the web's alt texts give emoji (emoji.caption), as CLIP tuned its own.
    "emoji": ["{}", "a {}.", "{} emoji", "a {} icon.", "a cartoon {}.", "a picture of a {}."],
    "emoji_shift": ["{}", "a {}.", "{} emoji", "a {} icon.", "a cartoon {}.", "a picture of a {}."],
    "animals": [
        "a {}.",
        "a drawing of a {}.",
        "a black and white picture of a {}.",
        "a silhouette of a {}.",
        "{}",
    ],
}
NEVER_SERVED = ("emoji_shift", "animals")  # not even as planted contamination


@dataclass(frozen=True)
class EvalItem:
    eval_id: str  # "<set>/<label>/<nnnn>": also its path under eval/, without .jpg
    set: str
    label: str
    seed: int = -1  # scenes
    clip: Clip | None = None
    caption: str = ""
    concept: int = -1  # emoji sets: the concept's index in emoji.catalogue()
    style: str = ""  # emoji sets: google, twitter or openmoji
    animal: int = -1  # animals: the index into animal-shape-mnist's arrays

    @property
    def emoji_scene(self) -> emoji.EmojiScene:
        return emoji.scene_from_seed(self.seed, (self.concept,), self.style)

    @property
    def scene(self):
        if self.set == "shapes":
            return scene_from_seed(self.seed, shape=self.label, single=True)
        if self.set == "colours":
            return scene_from_seed(self.seed, colour=self.label, single=True)
        return scene_from_seed(self.seed)


def make_items(cfg: SandboxConfig, clips: list[Clip]) -> tuple[list[EvalItem], set[str]]:
    """The eval items, and the clip paths they hold out of the served pool."""
    rng = np.random.default_rng([cfg.seed, 101])
    items: list[EvalItem] = []
    seed = _EVAL_SEED_BASE + cfg.seed * 100_000
    for set_name, labels in (("shapes", SHAPES), ("colours", tuple(COLOURS))):
        for label in labels:
            for k in range(cfg.eval_per_class):
                seed += 1
                items.append(EvalItem(f"{set_name}/{label}/{k:04d}", set_name, label, seed))
    held: set[str] = set()
    for category in CLIPART_CLASSES:
        pool = [c for c in clips if c.category == category]
        if len(pool) < 2 * cfg.eval_clipart_per_class:
            continue
        for k, i in enumerate(
            sorted(rng.choice(len(pool), cfg.eval_clipart_per_class, replace=False))
        ):
            items.append(EvalItem(f"clipart/{category}/{k:04d}", "clipart", category, clip=pool[i]))
            held.add(pool[i].path)
    for k in range(cfg.eval_retrieval):
        seed += 1
        scene = scene_from_seed(seed)
        caption = captions.english(scene, rng)
        items.append(EvalItem(f"retrieval/all/{k:04d}", "retrieval", "all", seed, caption=caption))
    if cfg.eval_emoji_classes and emoji.available():
        items += _emoji_items(cfg, seed + 1)
    if cfg.eval_animals_per_class and sources.animals_available():
        items += _animal_items(cfg)
    return items, held


def _emoji_items(cfg: SandboxConfig, seed: int) -> list[EvalItem]:
    concepts = emoji.catalogue()
    order = emoji.concept_order(cfg.seed, len(concepts))
    items = []
    for rank in range(min(cfg.eval_emoji_classes, len(concepts))):
        c = int(order[rank])
        label = concepts[c].label
        for k in range(cfg.eval_emoji_per_class):
            seed += 1
            style = emoji.SERVED_STYLES[k % len(emoji.SERVED_STYLES)]
            items.append(
                EvalItem(f"emoji/{label}/{k:04d}", "emoji", label, seed, concept=c, style=style)
            )
            items.append(
                EvalItem(
                    f"emoji_shift/{label}/{k:04d}",
                    "emoji_shift",
                    label,
                    seed,
                    concept=c,
                    style=emoji.SHIFT_STYLE,
                )
            )
    return items


def _animal_items(cfg: SandboxConfig) -> list[EvalItem]:
    _, labels = sources.load_animals()
    rng = np.random.default_rng([cfg.seed, 102])
    items = []
    for y, name in enumerate(sources.ANIMAL_NAMES):
        pool = np.flatnonzero(labels == y)
        picks = sorted(rng.choice(pool, min(cfg.eval_animals_per_class, len(pool)), replace=False))
        for k, i in enumerate(picks):
            items.append(EvalItem(f"animals/{name}/{k:04d}", "animals", name, animal=int(i)))
    return items


def image(item: EvalItem, clipart_dir: Path) -> Image.Image:
    if item.set in ("emoji", "emoji_shift"):
        return emoji.render(item.emoji_scene, EVAL_SIZE, EVAL_SIZE)
    if item.set == "animals":
        arrays, _ = sources.load_animals_cached()
        im = Image.fromarray(arrays[item.animal]).convert("RGB")
        return im.resize((EVAL_SIZE, EVAL_SIZE), Image.BILINEAR)
    if item.clip is not None:
        with Image.open(clipart_dir / "png" / item.clip.path) as im:
            return flatten(im, EVAL_SIZE)
    return render(item.scene, EVAL_SIZE, EVAL_SIZE)


def flatten(im: Image.Image, side: int) -> Image.Image:
    """A drawing with transparency, on white, fitted into a square of `side` pixels."""
    im = im.convert("RGBA")
    im.thumbnail((side, side))
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(im, ((side - im.width) // 2, (side - im.height) // 2), im)
    return canvas


def write(items: list[EvalItem], out: Path, clipart_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    rows: dict[str, list[dict]] = {}
    for item in items:
        path = out / f"{item.eval_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image(item, clipart_dir).save(path, "JPEG", quality=95)
        counts[item.set] = counts.get(item.set, 0) + 1
        rows.setdefault(item.set, []).append(
            {
                "eval_id": item.eval_id,
                "path": f"{item.eval_id}.jpg",
                "label": item.label,
                "caption": item.caption or None,
            }
        )
    for set_name, set_rows in rows.items():
        pq.write_table(pa.Table.from_pylist(set_rows), out / set_name / "labels.parquet")
    classes = {
        "shapes": {s: s for s in SHAPES},
        "colours": {c: c for c in COLOURS},
        "clipart": {k: v for k, v in CLIPART_CLASSES.items() if k in {i.label for i in items}},
    }
    names = {i.label: emoji.catalogue()[i.concept].name for i in items if i.set == "emoji"}
    if names:
        classes["emoji"] = classes["emoji_shift"] = names
    if any(i.set == "animals" for i in items):
        classes["animals"] = {n: n for n in sources.ANIMAL_NAMES}
    atomic_write_text(out / "classes.json", json.dumps(classes, indent=2) + "\n")
    atomic_write_text(out / "templates.json", json.dumps(TEMPLATES, indent=2) + "\n")
    return counts
