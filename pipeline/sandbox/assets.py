"""Pixels and bytes of a served image, from its row in the plan.

Shared by the planner (which needs the served size of a near-duplicate) and the server
(which renders on request), so both always agree.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from openwit.pipeline.sandbox import chrome, emoji
from openwit.pipeline.sandbox.evalset import flatten
from openwit.pipeline.sandbox.scenes import render, scene_from_seed

CLIP_MAX_SIDE = 800
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def png_dims(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24])


def clip_size(w: int, h: int) -> tuple[int, int]:
    scale = min(1.0, CLIP_MAX_SIDE / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def transform_params(kind: str, seed: int, w: int, h: int) -> dict:
    """The near-duplicate edit and the size it leaves: crops keep >= 90% of each side."""
    rng = np.random.default_rng(seed)
    if kind == "resize":
        s = rng.uniform(0.5, 0.8)
        return {"size": (max(8, round(w * s)), max(8, round(h * s)))}
    if kind == "crop":
        fx, fy = rng.uniform(0.03, 0.1, 2)
        left, top = round(w * fx * rng.random()), round(h * fy * rng.random())
        # At least one pixel off each side that has one to spare: rounding alone would leave a
        # side under 17 px whole, and a "crop" of a 6x3 drawing would be an exact copy.
        cw, ch = (max(1, min(n - 1, round(n * (1 - f)))) for n, f in ((w, fx), (h, fy)))
        left, top = min(left, w - cw), min(top, h - ch)
        box = (left, top, left + cw, top + ch)
        return {"box": box, "size": (cw, ch)}
    if kind == "colour":
        return {
            "brightness": rng.uniform(0.85, 1.15),
            "saturation": rng.uniform(0.8, 1.2),
            "size": (w, h),
        }
    return {"size": (w, h)}  # "reencode", "none": same pixels, other bytes


def base_image(row: dict, sandbox_dir: Path, clipart_dir: Path) -> Image.Image:
    kind = row["asset_kind"]
    if kind == "scene":
        return render(scene_from_seed(row["scene_seed"]), row["base_width"], row["base_height"])
    if kind == "clip":
        with Image.open(clipart_dir / "png" / row["clip_path"]) as im:
            im = im.convert("RGBA")
            canvas = Image.new("RGB", im.size, (255, 255, 255))
            canvas.paste(im, (0, 0), im)
            return canvas.resize((row["base_width"], row["base_height"]), Image.LANCZOS)
    if kind == "emoji":
        concepts = tuple(row["emoji_concepts"])
        scene = emoji.scene_from_seed(row["emoji_seed"], concepts, row.get("emoji_style"))
        return emoji.render(scene, row["base_width"], row["base_height"])
    if kind == "chrome":
        return chrome.render(row["chrome"], row["base_width"], row["base_height"])
    if kind == "eval":
        with Image.open(sandbox_dir / "eval" / f"{row['eval_id']}.jpg") as im:
            return flatten(im, row["base_width"])
    raise ValueError(f"unknown asset kind {kind!r}")


def image(row: dict, sandbox_dir: Path, clipart_dir: Path) -> Image.Image:
    img = base_image(row, sandbox_dir, clipart_dir)
    p = transform_params(row["transform"], row["transform_seed"], img.width, img.height)
    if "box" in p:
        img = img.crop(p["box"])
    if "brightness" in p:
        img = ImageEnhance.Color(ImageEnhance.Brightness(img).enhance(p["brightness"]))
        img = img.enhance(p["saturation"])
    if img.size != tuple(p["size"]):
        img = img.resize(p["size"], Image.LANCZOS)
    return img


def encode(img: Image.Image, fmt: str, quality: int) -> bytes:
    # The fastest encoder settings: the server renders on request, and PNG at its default
    # effort costs 70 ms for a 512 px scene, WebP 40 ms (against 18 and 12 here).
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    elif fmt == "webp":
        img.save(buf, "WEBP", quality=quality, method=0)
    else:
        img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def bomb_png(width: int = 40_000, height: int = 40_000) -> bytes:
    """A PNG declaring width x height pixels in a few hundred bytes: a decoder that trusts
    the header would allocate gigabytes. Only the first rows' data is present."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def corrupt(data: bytes, seed: int) -> bytes:
    """The format's signature (for PNG, with its true-size header) kept, the rest replaced by
    bytes without 0xFF (so no JPEG marker can appear): it sniffs as an image, never decodes."""
    keep = 33 if data.startswith(b"\x89PNG") else 12 if data.startswith(b"RIFF") else 2
    rng = np.random.default_rng(seed)
    return data[:keep] + rng.integers(0, 255, max(64, len(data) - keep), dtype=np.uint8).tobytes()


def truncate(data: bytes) -> bytes:
    return data[: max(32, len(data) * 3 // 5)]
