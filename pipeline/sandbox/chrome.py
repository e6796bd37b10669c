"""Site chrome: the logos, icons, ads, avatars and placeholders around a real page's content.

On the web these are most of the `<img>` tags, and they are why curation matters: their alt
texts are a few very common words ("logo", "icon", "advertisement", "image"), so they pile up
on a handful of query entries (the head MetaCLIP's balancing flattens); the same few pictures
are served under thousands of URLs (a cache-busting `?v=`, a re-upload, a resized copy: the
floods deduplication removes); many are tiny or banner-shaped (what DataComp's basic filter
drops); and what is left pairs an uninformative picture with an uninformative text (what a
model score ranks low). The sandbox plants them beside every page's content so that a raw
pool is worse than a curated one for those reasons, and records each as `group: chrome`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Per HTML page: the chance of one (logo, ad, avatar, placeholder) or the mean count (icons).
DEFAULT_CHROME = {"logo": 0.9, "icon": 1.0, "ad": 0.35, "avatar": 0.25, "placeholder": 0.2}
ICONS = ("facebook", "twitter", "pinterest", "email", "rss", "search", "menu", "cart", "print")
AD_CREATIVES = 40  # distinct ads, each shown on many pages
_ALTS = {
    "logo": (
        "logo",
        "{brand} logo",
        "{brand}",
        "site logo",
        "{brand} - home",
        "{brand} logo image",
    ),
    "icon": ("{name}", "{name} icon", "share on {name}", "icon", "button", "{name} button"),
    "ad": (
        "advertisement",
        "ad",
        "sponsored",
        "advertisement banner",
        "sponsored content from our partners",
        "click here to learn more",
    ),
    "avatar": ("avatar", "user avatar", "profile picture", "profile photo of the author", "author"),
    "placeholder": (
        "image",
        "photo",
        "picture",
        "no image available",
        "image placeholder",
        "loading image",
        "thumbnail",
    ),
}


@dataclass(frozen=True)
class Chrome:
    """One chrome image on one page: what it shows (`content`), its size and its alt text."""

    kind: str
    content: str  # e.g. "logo:site07", "icon:rss", "ad:12": the same pixels wherever shown
    width: int
    height: int
    alt: str
    resized: bool  # a scaled copy of the content (a near duplicate), not the same pixels


def brand(host: str) -> str:
    return host.split(".")[0].replace("site", "Site")


def for_page(host: str, rng: np.random.Generator, rates: dict[str, float]) -> list[Chrome]:
    """The chrome one page carries, in page order (logo first)."""
    out = []

    def alt(kind: str, **names: str) -> str:
        options = _ALTS[kind]
        return options[int(rng.integers(len(options)))].format(**names)

    if rng.random() < rates.get("logo", 0):
        resized = bool(rng.random() < 0.2)
        b = brand(host)
        out.append(Chrome("logo", f"logo:{b}", 200, 80, alt("logo", brand=b), resized))
    for _ in range(int(rng.poisson(rates.get("icon", 0)))):
        name = ICONS[int(rng.integers(len(ICONS)))]
        side = int(rng.choice([24, 32, 48]))
        out.append(Chrome("icon", f"icon:{name}", side, side, alt("icon", name=name), False))
    if rng.random() < rates.get("ad", 0):
        k = int(rng.integers(AD_CREATIVES))
        w, h = (300, 250) if k % 5 < 3 else (728, 90)  # medium rectangle / leaderboard
        out.append(Chrome("ad", f"ad:{k}", w, h, alt("ad"), False))
    if rng.random() < rates.get("avatar", 0):  # the web's one default avatar, at two sizes
        side = int(rng.choice([96, 128]))
        out.append(Chrome("avatar", "avatar:default", side, side, alt("avatar"), False))
    if rng.random() < rates.get("placeholder", 0):
        out.append(
            Chrome("placeholder", "placeholder:default", 320, 240, alt("placeholder"), False)
        )
    return out


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, size))


def _abstract(d: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, n: int) -> None:
    """A few shapes of random kind, place and colour: every logo and ad its own design, so
    that two of them are never near duplicates by accident (the truth's "same content")."""
    for _ in range(n):
        x0, x1 = sorted(rng.uniform(0, w, 2))
        y0, y1 = sorted(rng.uniform(0, h, 2))
        box = (x0, y0, max(x1, x0 + w / 8), max(y1, y0 + h / 8))
        kind = int(rng.integers(3))
        if kind == 0:
            d.ellipse(box, fill=_colour(rng))
        elif kind == 1:
            d.rectangle(box, fill=_colour(rng))
        else:
            d.polygon(
                [(box[0], box[3]), ((box[0] + box[2]) / 2, box[1]), (box[2], box[3])],
                fill=_colour(rng),
            )


def render(content: str, width: int, height: int) -> Image.Image:
    """The pixels of one chrome content, a pure function of its name and size."""
    kind, _, key = content.partition(":")
    rng = np.random.default_rng(zlib.crc32(content.encode()))
    w, h = width, height
    img = Image.new("RGB", (w, h), _colour(rng) if kind in ("logo", "ad") else (255, 255, 255))
    d = ImageDraw.Draw(img)
    if kind in ("logo", "ad"):
        _abstract(d, rng, w, h, int(rng.integers(3, 7)))
        words = ("SALE", "NEW", "FREE SHIPPING", "50% OFF", "BUY NOW", "LIMITED OFFER")
        text = key if kind == "logo" else words[int(rng.integers(len(words)))]
        xy = (w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7))
        d.text(xy, text, fill=_colour(rng), font=_font(h // 4), anchor="mm")
    elif kind == "icon":  # one glyph per service, the same on every site (one icon set)
        d.rounded_rectangle((0, 0, w - 1, h - 1), radius=w // 5, fill=_colour(rng))
        d.text((w / 2, h / 2), key[0].upper(), fill="white", font=_font(int(h * 0.6)), anchor="mm")
    elif kind == "avatar":
        img.paste((200, 205, 210), (0, 0, w, h))
        d.ellipse((w * 0.32, h * 0.18, w * 0.68, h * 0.54), fill=(150, 155, 160))
        d.ellipse((w * 0.15, h * 0.6, w * 0.85, h * 1.3), fill=(150, 155, 160))
    elif kind == "placeholder":  # the picture-frame pictogram: a sun over two hills
        img.paste((230, 230, 230), (0, 0, w, h))
        c = (170, 170, 170)
        d.polygon([(w * 0.3, h * 0.7), (w * 0.45, h * 0.45), (w * 0.6, h * 0.7)], fill=c)
        d.polygon([(w * 0.5, h * 0.7), (w * 0.6, h * 0.55), (w * 0.72, h * 0.7)], fill=c)
        d.ellipse((w * 0.6, h * 0.28, w * 0.68, h * 0.39), fill=c)
    else:
        raise ValueError(f"unknown chrome content {content!r}")
    return img
