"""Debian's openclipart: ~6,900 real drawings whose titles, descriptions and keywords were
written by the people who drew them. The PNGs are served; the SVGs hold the metadata."""

from __future__ import annotations

import html
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import ftfy

DEFAULT_CLIPART_DIR = Path("/usr/share/openclipart")
MAX_PIXELS = 12_000_000  # a few drawings are 20,000 px wide: too slow to serve, left out
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
