"""Procedural scenes: shapes of known colour, count, size and texture on a background.

A scene is fully described by a small spec drawn from a seed, so the server can render any
image on request and the ground truth knows exactly what is in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES = (
    "circle",
    "square",
    "triangle",
    "star",
    "hexagon",
    "heart",
    "cross",
    "ring",
    "diamond",
    "crescent",
)
PLURAL = {s: s + "s" for s in SHAPES} | {"cross": "crosses"}
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 215, 20),
    "orange": (245, 135, 20),
    "purple": (130, 40, 170),
    "pink": (245, 130, 190),
    "brown": (120, 70, 30),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
}
TEXTURES = ("plain", "plain", "striped", "dotted", "checkered")
SIZES = ("small", "medium", "large")
# How often each size is drawn. A web photo of a thing mostly shows it filling the frame, and
# a model that sees 64 pixels cannot tell a 10-pixel star from a 10-pixel heart: captions that
# name shapes it cannot see teach it to ignore shape words (docs/train.md measures this).
SIZE_WEIGHTS = (0.25, 0.25, 0.5)
BACKGROUNDS = {
    "white": (250, 250, 250),
    "grey": (128, 128, 128),
    "light blue": (180, 210, 240),
    "beige": (230, 220, 190),
    "dark": (35, 35, 45),
    "green": (170, 215, 160),
}


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    count: int
    size: str
    texture: str


@dataclass(frozen=True)
class Scene:
    seed: int
    objects: tuple[Obj, ...]
    background: str
    noisy_background: bool

    @property
    def main(self) -> Obj:
        return self.objects[0]


def _pick_background(rng: np.random.Generator, colours: set[str]) -> str:
    options = [
        b for b in BACKGROUNDS if b not in colours and not (b == "dark" and "black" in colours)
    ]
    return options[rng.integers(len(options))]


def scene_from_seed(
    seed: int, shape: str | None = None, colour: str | None = None, single: bool = False
) -> Scene:
    """The spec behind a seed. `shape`/`colour` pin every object (evaluation classes)."""
    rng = np.random.default_rng(seed)
    n_kinds = 1 if single or rng.random() < 0.6 else 2
    objs = []
    for _ in range(n_kinds):
        objs.append(
            Obj(
                shape=shape or SHAPES[rng.integers(len(SHAPES))],
                colour=colour or list(COLOURS)[rng.integers(len(COLOURS))],
                count=int(rng.choice([1, 1, 1, 2, 2, 3, 4])),
                size=str(rng.choice(SIZES, p=SIZE_WEIGHTS)) if not single else "large",
                texture=TEXTURES[rng.integers(len(TEXTURES))],
            )
        )
    bg = _pick_background(rng, {o.colour for o in objs})
    return Scene(seed, tuple(objs), bg, bool(rng.random() < 0.3))


def _polygon(shape: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    def ring(n: int, radius: float, offset: float = 0.0) -> list[tuple[float, float]]:
        return [
            (
                cx + radius * math.cos(rot + offset + 2 * math.pi * k / n),
                cy + radius * math.sin(rot + offset + 2 * math.pi * k / n),
            )
            for k in range(n)
        ]

    if shape == "square":
        return ring(4, r, math.pi / 4)
    if shape == "triangle":
        return ring(3, r, -math.pi / 2)
    if shape == "hexagon":
        return ring(6, r)
    if shape == "diamond":
        return [(cx, cy - r), (cx + 0.6 * r, cy), (cx, cy + r), (cx - 0.6 * r, cy)]
    if shape == "star":
        outer, inner = ring(5, r, -math.pi / 2), ring(5, 0.42 * r, -math.pi / 2 + math.pi / 5)
        return [p for pair in zip(outer, inner, strict=True) for p in pair]
    if shape == "cross":
        a = r / 3
        pts = [
            (-a, -r),
            (a, -r),
            (a, -a),
            (r, -a),
            (r, a),
            (a, a),
            (a, r),
            (-a, r),
            (-a, a),
            (-r, a),
            (-r, -a),
            (-a, -a),
        ]
        return [(cx + x, cy + y) for x, y in pts]
    if shape == "heart":
        pts = []
        for k in range(40):
            t = 2 * math.pi * k / 40
            x = 16 * math.sin(t) ** 3
            y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
            pts.append((cx + x * r / 17, cy + y * r / 17))
        return pts
    raise ValueError(shape)


def _mask(
    shape: str, size: tuple[int, int], cx: float, cy: float, r: float, rot: float
) -> Image.Image:
    m = Image.new("L", size, 0)
    d = ImageDraw.Draw(m)
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        d.ellipse(box, fill=255)
    elif shape == "ring":
        d.ellipse(box, fill=255)
        d.ellipse((cx - 0.55 * r, cy - 0.55 * r, cx + 0.55 * r, cy + 0.55 * r), fill=0)
    elif shape == "crescent":
        d.ellipse(box, fill=255)
        dx = 0.45 * r * math.cos(rot)
        dy = 0.45 * r * math.sin(rot)
        d.ellipse((cx - r + dx, cy - r + dy, cx + r + dx, cy + r + dy), fill=0)
    else:
        d.polygon(_polygon(shape, cx, cy, r, rot), fill=255)
    return m


def _fill(
    colour: tuple[int, int, int], texture: str, size: tuple[int, int], step: int
) -> Image.Image:
    img = Image.new("RGB", size, colour)
    if texture == "plain":
        return img
    alt = tuple(int(c * 0.45 + 140) if sum(colour) < 300 else int(c * 0.5) for c in colour)
    d = ImageDraw.Draw(img)
    w, h = size
    if texture == "striped":
        for x in range(-h, w, 2 * step):
            d.line([(x, 0), (x + h, h)], fill=alt, width=max(2, step // 2))
    elif texture == "dotted":
        for y in range(0, h, 2 * step):
            for x in range(0, w, 2 * step):
                d.ellipse((x, y, x + step // 2 + 1, y + step // 2 + 1), fill=alt)
    elif texture == "checkered":
        for y in range(0, h, step):
            for x in range((y // step) % 2 * step, w, 2 * step):
                d.rectangle((x, y, x + step - 1, y + step - 1), fill=alt)
    return img


def _backdrop(scene: Scene, width: int, height: int) -> np.ndarray:
    """The background colour under smooth light and shade that differ per seed.

    Photos have low-frequency structure of their own; flat backdrops would make unrelated
    scenes look alike to a perceptual hash (a red heart and a blue star on plain white)."""
    rng = np.random.default_rng([scene.seed, 104729])
    coarse = rng.uniform(-1, 1, (4, 4)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse, "F").resize((width, height), Image.BICUBIC))
    bg = np.asarray(BACKGROUNDS[scene.background], np.float32)
    light = 1 + 0.22 * np.clip(field, -1.2, 1.2)[..., None]
    return bg * light if bg.mean() > 60 else bg + 45 * np.clip(field, 0, 1.2)[..., None]


# Radius as a share of the short side: a small object still spans 13-20 px at 64 px.
_RADIUS = {"small": 0.15, "medium": 0.19, "large": 0.24}


def render(scene: Scene, width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(scene.seed + 7919)
    arr = _backdrop(scene, width, height)
    if scene.noisy_background:
        arr = arr + rng.normal(0, 18, (height, width, 1))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    short = min(width, height)
    for obj in scene.objects:
        r = _RADIUS[obj.size] * short * (0.85 + 0.3 * rng.random()) / (1 + 0.15 * (obj.count - 1))
        step = max(3, int(r / 4))
        texture = _fill(COLOURS[obj.colour], obj.texture, (width, height), step)
        for _ in range(obj.count):
            cx = rng.uniform(r, max(r + 1, width - r))
            cy = rng.uniform(r, max(r + 1, height - r))
            img.paste(
                texture,
                (0, 0),
                _mask(obj.shape, (width, height), cx, cy, r, rng.uniform(0, math.pi)),
            )
    return img
