"""Web pages around the planned images, in the forms real pages use to embed them."""

from __future__ import annotations

import html

import numpy as np

_PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
_WORDS = [
    "the",
    "gallery",
    "shows",
    "our",
    "latest",
    "collection",
    "of",
    "shapes",
    "and",
    "drawings",
    "from",
    "the",
    "community",
    "every",
    "picture",
    "here",
    "is",
    "free",
    "to",
    "use",
    "in",
    "school",
    "projects",
    "presentations",
    "and",
    "posters",
    "browse",
    "more",
    "images",
    "below",
    "or",
    "search",
    "the",
    "archive",
    "by",
    "colour",
    "and",
    "theme",
]


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _thumb(src: str) -> str:
    stem, dot, ext = src.rpartition(".")
    return f"{stem}-320w.{ext}" if dot else src


def img_html(c: dict, raw_caption: str) -> str:
    """The markup for one candidate; `raw_caption` is the text as the page has it."""
    src, alt, form = _attr(c["src"]), _attr(raw_caption), c["html_form"]
    if form == "srcset":
        return (
            f'<img src="{_attr(_thumb(c["src"]))}" srcset="{_attr(_thumb(c["src"]))} 320w, '
            f'{src} 1024w" sizes="(max-width: 600px) 320px, 1024px" alt="{alt}">'
        )
    if form == "data_src":
        return f'<img class="lazy" src="{_PIXEL}" data-src="{src}" alt="{alt}" loading="lazy">'
    if form == "figure":
        caption = html.escape(raw_caption)
        return f'<figure><img src="{src}" alt=""><figcaption>{caption}</figcaption></figure>'
    if form == "picture":
        webp = c["src"].rsplit(".", 1)[0] + ".webp"
        return (
            f'<picture><source srcset="{_attr(webp)}" type="image/webp">'
            f'<img src="{src}" alt="{alt}"></picture>'
        )
    if form == "title_only":
        return f'<img src="{src}" title="{alt}">'
    return f'<img src="{src}" alt="{alt}">'


def page_html(
    page: dict, cands: list[dict], raw_captions: list[str], rng: np.random.Generator
) -> str:
    title = " ".join(_WORDS[int(i)] for i in rng.integers(len(_WORDS), size=5)).capitalize()
    base = f'<base href="http://{page["host"]}/">' if page["base_href"] else ""
    body = []
    for c, raw in zip(cands, raw_captions, strict=True):
        para = " ".join(
            _WORDS[int(i)] for i in rng.integers(len(_WORDS), size=int(rng.integers(8, 30)))
        )
        body.append(f"<p>{para}.</p>\n{img_html(c, raw)}")
    # Images no crawler should keep: a data: URL with no lazy source, a javascript: one.
    body.append(f'<img src="{_PIXEL}" alt="spacer"><img src="javascript:void(0)" alt="tracker">')
    doc = (
        f'<!DOCTYPE html>\n<html lang="{page["lang"]}">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{base}</head>\n<body>\n<header><nav>"
        '<a href="/">Home</a> <a href="/about.html">About</a></nav></header>\n<main>\n'
        f"<h1>{html.escape(title)}</h1>\n"
        + "\n".join(body)
        + "\n</main>\n<footer>&copy; 2024 Sandbox Media</footer>\n</body>\n</html>\n"
    )
    if page["kind"] == "malformed":
        doc = _malform(doc, rng)
    return doc


def _malform(doc: str, rng: np.random.Generator) -> str:
    """Sloppy but parseable HTML: shouted tags, dropped closing tags, stray angle brackets."""
    doc = doc.replace("<img ", "<IMG ").replace("</p>", "").replace("</main>", "")
    doc = doc.replace("<main>", "<main><div class=wrap><< back | next >>")
    return doc.replace("<!DOCTYPE html>", "") if rng.random() < 0.5 else doc
