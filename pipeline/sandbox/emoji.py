"""Real concepts with real names: emoji art in three independent styles, named by CLDR.

The catalogue joins emoji-datasource (code points, category, image file names) with CLDR's
annotations (the English name and keywords; the name in other languages) and keeps the
concrete nouns (animals, plants, food, places, vehicles, objects, activities) drawn in all
three styles: Noto (Google) and Twemoji, which the sandbox serves, and OpenMoji, which it never
serves (the distribution-shift evaluation). Sources: `sources.py`.

An emoji scene is drawn from a seed like the procedural scenes: a background, one to three
emoji of one style at sizes and places of their own, so the server renders any image on
request and the ground truth knows what is in it.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
from PIL import Image

from openwit.pipeline.sandbox.scenes import BACKGROUNDS
from openwit.pipeline.sandbox.sources import NPM, SourceMissing, cache_dir, package_dir

SERVED_STYLES = ("google", "twitter")
SHIFT_STYLE = "openmoji"
# Concrete nouns a web page would name: no clock faces, medals or signs that differ only in a
# digit or a colour, no symbols.
SUBCATEGORIES = (
    "animal-mammal", "animal-bird", "animal-marine", "animal-bug", "animal-reptile",
    "animal-amphibian", "plant-flower", "plant-other", "food-fruit", "food-vegetable",
    "food-prepared", "food-asian", "food-sweet", "drink", "dishware", "place-building",
    "place-geographic", "place-other", "place-religious", "transport-ground", "transport-air",
    "transport-water", "sport", "game", "musical-instrument", "clothing", "household", "tool",
    "office", "computer", "book-paper", "light & video", "science", "medical", "writing",
    "arts & crafts", "event", "phone",
)  # fmt: skip
CLDR_LANGS = ("de", "fr", "es", "it", "nl", "pt")  # the sandbox's other languages (captions.py)
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Concept:
    code: str  # emoji-datasource's `unified`, e.g. "1F992"
    image: str  # its PNG name in the datasource packs, e.g. "1f992.png"
    openmoji: str  # its OpenMoji SVG stem
    name: str  # CLDR's English name ("giraffe")
    keywords: tuple[str, ...]  # CLDR's English keywords
    subcategory: str
    names: tuple[tuple[str, str], ...]  # (lang, CLDR name) for CLDR_LANGS

    @property
    def label(self) -> str:
        """A folder-safe class label: the slugged name."""
        return _SLUG.sub("_", self.name.lower()).strip("_")

    def name_in(self, lang: str) -> str:
        return dict(self.names).get(lang, self.name)


def _char(code: str) -> str:
    return "".join(chr(int(u, 16)) for u in code.split("-"))


def _cldr(lang: str) -> dict:
    path = package_dir(NPM["cldr-annotations-full"]) / "package/annotations" / lang
    return json.loads((path / "annotations.json").read_text())["annotations"]["annotations"]


@functools.lru_cache(maxsize=2)
def catalogue() -> tuple[Concept, ...]:
    """Every usable concept, in emoji order; SourceMissing if a source is not installed."""
    root = package_dir(NPM["emoji-datasource"]) / "package/emoji.json"
    if not root.is_file():
        raise SourceMissing(f"{root}: run `make install` (npm packages for the emoji art)")
    rows = json.loads(root.read_text())
    en = _cldr("en")
    other = {lang: _cldr(lang) for lang in CLDR_LANGS}
    svgs = {p.stem for p in (package_dir(NPM["openmoji"]) / "package/color/svg").glob("*.svg")}
    out, seen = [], set()
    for r in sorted(rows, key=lambda r: r["sort_order"]):
        if r["subcategory"] not in SUBCATEGORIES or not (
            r["has_img_google"] and r["has_img_twitter"]
        ):
            continue
        ch = _char(r["unified"])
        key = ch if ch in en else ch.replace("\ufe0f", "")
        if key not in en:
            continue
        stem = next((s for s in (r["unified"], r.get("non_qualified")) if s and s in svgs), None)
        name = en[key]["tts"][0]
        if stem is None or name in seen:
            continue
        seen.add(name)
        names = tuple((lang, ann[key]["tts"][0]) for lang, ann in other.items() if key in ann)
        out.append(
            Concept(
                r["unified"],
                r["image"],
                stem,
                name,
                tuple(k for k in en[key].get("default", []) if k != name),
                r["subcategory"],
                names,
            )
        )
    return tuple(out)


def available() -> bool:
    try:
        catalogue()
    except (SourceMissing, FileNotFoundError, KeyError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=4096)
def glyph(concept: Concept, style: str) -> Image.Image:
    """The emoji as RGBA: the 64×64 PNG of a served style, OpenMoji rendered at 72 px."""
    if style in SERVED_STYLES:
        pkg = NPM[f"emoji-datasource-{style}"]
        path = package_dir(pkg) / f"package/img/{style}/64/{concept.image}"
        with Image.open(path) as im:
            return im.convert("RGBA")
    if style != SHIFT_STYLE:
        raise ValueError(f"emoji style {style!r}")
    png = cache_dir() / "sources" / "openmoji-72" / f"{concept.openmoji}.png"
    if not png.is_file():
        svg = package_dir(NPM["openmoji"]) / f"package/color/svg/{concept.openmoji}.svg"
        if shutil.which("rsvg-convert") is None:
            raise SourceMissing("rsvg-convert is not installed (apt install librsvg2-bin)")
        png.parent.mkdir(parents=True, exist_ok=True)
        tmp = png.with_name(f".{png.name}.tmp")
        subprocess.run(
            ["rsvg-convert", "-w", "72", "-h", "72", "-o", str(tmp), str(svg)],
            check=True,
            capture_output=True,
        )
        tmp.replace(png)
    with Image.open(png) as im:
        return im.convert("RGBA")


@dataclass(frozen=True)
class EmojiScene:
    seed: int
    style: str
    # (concept index, side as a share of the short side, x and y as shares of the free space)
    items: tuple[tuple[int, float, float, float], ...]
    background: str

    @property
    def concepts(self) -> tuple[int, ...]:
        return tuple(i for i, *_ in self.items)


def concept_order(seed: int, n: int) -> np.ndarray:
    """The sandbox's popularity order, `order[rank]` the concept at that rank: as often as
    people write the concept's English name (wordfreq's Zipf frequency: house, school and dog
    lead, ewe and giraffe trail), jittered per seed so two seeds rank near-ties differently."""
    from wordfreq import zipf_frequency

    names = [c.name for c in catalogue()[:n]]
    jitter = np.random.default_rng([seed, 303]).normal(0, 0.25, len(names))
    score = np.array([zipf_frequency(name, "en") for name in names]) + jitter
    return np.argsort(-score, kind="stable")


def popularity(n: int, exponent: float = 1.1) -> np.ndarray:
    """Zipf-like weights over n concepts: a few on thousands of pages, most on a handful."""
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def draw_concepts(rng: np.random.Generator, order: np.ndarray) -> tuple[int, ...]:
    """One to three distinct concepts, by popularity: `order[rank]` is the concept of a rank."""
    count = int(rng.choice([1, 1, 1, 2, 3]))
    ranks = rng.choice(len(order), size=count, replace=False, p=popularity(len(order)))
    return tuple(int(order[r]) for r in ranks)


def scene_from_seed(seed: int, concepts: tuple[int, ...], style: str | None = None) -> EmojiScene:
    """The concepts, of one style (drawn unless given), at sizes and places drawn from seed."""
    rng = np.random.default_rng([seed, 4242])
    drawn = SERVED_STYLES[int(rng.integers(len(SERVED_STYLES)))]
    style = style or drawn
    picks, count = list(concepts), len(concepts)
    items = []
    for k, c in enumerate(picks):
        size = rng.uniform(0.55, 0.85) if count == 1 else rng.uniform(0.3, 0.45)
        x = rng.uniform(0, 1) if count == 1 else (k + rng.uniform(0.1, 0.9)) / count
        items.append((c, float(size), float(x), float(rng.uniform(0, 1))))
    background = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    return EmojiScene(seed, style, tuple(items), background)


def render(scene: EmojiScene, width: int, height: int) -> Image.Image:
    concepts = catalogue()
    img = Image.new("RGB", (width, height), BACKGROUNDS[scene.background])
    short = min(width, height)
    for c, size, x, y in scene.items:
        side = max(8, round(size * short))
        g = glyph(concepts[c], scene.style).resize((side, side), Image.LANCZOS)
        img.paste(g, (round(x * max(0, width - side)), round(y * max(0, height - side))), g)
    return img


_PHRASES = (
    "{a}",
    "{a} emoji",
    "{a} icon",
    "cartoon {a}",
    "{a} on a {bg} background",
    "a picture of {a}",
    "{a} clipart",
    "emoji: {a}",
)


_AND = {"de": "und", "fr": "et", "es": "y", "it": "e", "nl": "en", "pt": "e"}


def _listed(names: list[str], conjunction: str) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def _article(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def caption(scene: EmojiScene, rng: np.random.Generator, lang: str = "en") -> str:
    """Alt text the way the web writes it: the CLDR names in varied phrasings, sometimes the
    keywords, in the page's language when it is not English."""
    concepts = [catalogue()[c] for c in scene.concepts]
    if lang != "en":
        return _listed([c.name_in(lang) for c in concepts], _AND.get(lang, "and"))
    names = [c.name for c in concepts]
    if len(names) > 1:
        return _listed(names, "and") if rng.random() < 0.7 else ", ".join(names)
    c = concepts[0]
    r = rng.random()
    if r < 0.15 and c.keywords:
        return ", ".join([c.name, *c.keywords[:3]])
    phrase = _PHRASES[int(rng.integers(len(_PHRASES)))]
    return phrase.format(a=_article(c.name) if rng.random() < 0.5 else c.name, bg=scene.background)
