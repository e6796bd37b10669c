"""Debian's openclipart: ~6,900 real drawings whose titles, descriptions and keywords were
written by the people who drew them. The PNGs are served; the SVGs hold the metadata."""

from __future__ import annotations

import html
import os
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ftfy
import numpy as np
from PIL import Image

DEFAULT_CLIPART_DIR = Path("/usr/share/openclipart")
MAX_PIXELS = 12_000_000  # a few drawings are 20,000 px wide: too slow to serve, left out
# Thumbnails (16x16, brightness-normalised) closer than this count as the same picture: 1.7x
# the distance at which dedup confirms a near duplicate (0.35 on 12x12), so no two served
# drawings are ones the detector would rightly call one (two US flags, two magnifier icons).
LOOK_ALIKE_RMS = 0.6
_TITLE = re.compile(rb"<dc:title>([^<]*)</dc:title>")
_DESC = re.compile(rb"<dc:description>([^<]*)</dc:description>")
_SUBJECT = re.compile(rb"<dc:subject>(.*?)</dc:subject>", re.S)
_LI = re.compile(rb"<rdf:li>([^<]*)</rdf:li>")


@dataclass(frozen=True)
class Clip:
    path: str  # the PNG, relative to the clipart root
    category: str  # top-level folder: animals, buildings, food, ...
    title: str
    description: str
    keywords: tuple[str, ...]


def _text(raw: bytes) -> str:
    # Some titles are escaped twice or mis-encoded; the ground truth holds the repaired text,
    # which is what a correct harvester should recover from the page.
    text = html.unescape(html.unescape(raw.decode("utf-8", "replace")))
    return " ".join(ftfy.fix_text(text, uncurl_quotes=False).split())


def _meta(svg: Path) -> tuple[str, str, tuple[str, ...]]:
    try:
        data = svg.read_bytes()
    except OSError:
        return "", "", ()
    title = _TITLE.search(data)
    desc = _DESC.search(data)
    subject = _SUBJECT.search(data)
    keywords = tuple(_text(k) for k in _LI.findall(subject.group(1))) if subject else ()
    return (
        _text(title.group(1)) if title else "",
        _text(desc.group(1)) if desc else "",
        tuple(k for k in keywords if k),
    )


def catalogue(root: Path = DEFAULT_CLIPART_DIR) -> list[Clip]:
    """Every real (non-symlinked) PNG with a human title, sorted by path. Empty if absent."""
    png_root = root / "png"
    if not png_root.is_dir():
        return []
    clips = []
    for png in sorted(png_root.rglob("*.png")):
        if png.is_symlink():  # the package links each drawing into several folders
            continue
        with open(png, "rb") as f:
            head = f.read(24)
        w, h = struct.unpack(">II", head[16:24])
        if w * h > MAX_PIXELS:
            continue
        rel = png.relative_to(png_root)
        title, desc, keywords = _meta((root / "svg" / rel).with_suffix(".svg"))
        if len(title) < 3:
            continue
        clips.append(Clip(str(rel), rel.parts[0], title, desc, keywords))
    return clips


def caption(clip: Clip, style: int) -> str:
    """The human text in one of the ways pages put it in an alt attribute."""
    if style == 1 and clip.description and len(clip.description) < 300:
        return f"{clip.title} - {clip.description}"
    if style == 2 and clip.keywords:
        return f"{clip.title}: {', '.join(clip.keywords[:6])}"
    return clip.title


# The whole drawing, and windows of 90% of each side: a crop must not make two alike either.
_VIEWS = (
    (0, 0, 1, 1),
    (0, 0, 0.9, 0.9),
    (0.1, 0, 1, 0.9),
    (0, 0.1, 0.9, 1),
    (0.1, 0.1, 1, 1),
    (0.05, 0.05, 0.95, 0.95),
)


def thumbnail(clip: Clip, root: Path = DEFAULT_CLIPART_DIR) -> np.ndarray:
    """(views, 768): 16x16 RGB thumbnails on white of the drawing and of windows in it, each
    shifted to mean 0 and unit spread: enough to tell two drawings apart at a glance,
    whatever their brightness."""
    with Image.open(root / "png" / clip.path) as im:
        im = im.convert("RGBA")
        im.thumbnail((64, 64))
        canvas = Image.new("RGB", im.size, (255, 255, 255))
        canvas.paste(im, (0, 0), im)
    w, h = canvas.size
    views = []
    for x0, y0, x1, y1 in _VIEWS:
        box = (x0 * w, y0 * h, x1 * w, y1 * h)
        t = np.asarray(canvas.resize((16, 16), Image.BILINEAR, box=box), np.float32).ravel()
        t -= t.mean()
        views.append(t / max(float(t.std()), 8.0))
    return np.stack(views)


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)): whether a drawing of a looks like one of b, whole against whole or
    against a window, either way round (BLAS, not a loop)."""

    def d2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2 * x @ y.T

    limit = LOOK_ALIKE_RMS**2 * a.shape[-1]
    v = a.shape[1]
    whole_vs_views = d2(a[:, 0], b.reshape(-1, b.shape[-1])).reshape(len(a), len(b), v)
    views_vs_whole = d2(a.reshape(-1, a.shape[-1]), b[:, 0]).reshape(len(a), v, len(b))
    return (whole_vs_views.min(2) < limit) | (views_vs_whole.min(1) < limit)


def distinct(
    clips: list[Clip], limit: int, avoid: list[Clip] = (), root: Path = DEFAULT_CLIPART_DIR
) -> list[Clip]:
    """Up to `limit` clips, in order, none looking like an earlier one or like `avoid`.

    The package ships some drawings twice (an icon in two theme folders, a star with 12 or
    14 points). Served as different content, they would make the ground truth call true
    duplicates distinct, so only the first of each look-alike group is served."""
    bank = [thumbnail(c, root) for c in avoid]
    out: list[Clip] = []
    pos = 0
    while len(out) < limit and pos < len(clips):
        # Thumbnails cost ~3 ms each: take a chunk a little larger than what is still needed.
        chunk = clips[pos : pos + int(1.3 * (limit - len(out))) + 64]
        pos += len(chunk)
        with ThreadPoolExecutor(os.cpu_count()) as pool:  # PIL decodes without the GIL
            thumbs = np.stack(list(pool.map(lambda c: thumbnail(c, root), chunk)))
        near_bank = _close(thumbs, np.stack(bank)).any(1) if bank else np.zeros(len(chunk), bool)
        within = _close(thumbs, thumbs)
        taken: list[int] = []
        for i, clip in enumerate(chunk):
            if len(out) == limit:
                break
            if near_bank[i] or any(within[i, j] for j in taken):
                continue
            taken.append(i)
            out.append(clip)
        bank.extend(thumbs[taken])
    return out
