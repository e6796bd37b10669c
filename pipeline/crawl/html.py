"""An HTML page's images and their text, read as a browser reads the page.

Bytes to text by the HTML standard's order: a byte order mark, the HTTP charset, a `<meta>`
charset in the first 1024 bytes, then detection (UTF-8 if the bytes are valid UTF-8, else
charset-normalizer), labels mapped as browsers map them (latin-1 and ascii mean
windows-1252). Each `<img>` gives the largest picture it offers (`image_src`: srcset and
data-srcset, its `<picture>`'s `<source>`s of types we decode, a lazy data-src over a
placeholder), `<img>`s inside `<noscript>` too (an image met twice is one pair); URLs are
resolved against `<base href>` by the WHATWG URL standard. Its text: the alt text, else the
enclosing figure's caption, else the title. A page that opts out of AI use of its images
(`X-Robots-Tag`, `<meta name="robots">`, TDMRep's header or meta) gives its pairs with the
opt-out named, so they are counted and never fetched.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter

from selectolax.lexbor import LexborHTMLParser

from openwit.pipeline.crawl.http import optout
from openwit.pipeline.crawl.urls import best_candidate, normalize_url, parse_srcset

_LAZY_SRC = ("data-src", "data-lazy-src", "data-original", "data-url")
_LAZY_SRCSET = ("data-srcset", "data-lazy-srcset")
_DECODED_TYPES = {
    "",
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "image/heic",
    "image/heif",
}
_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_AS_BROWSERS = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
    "x-sjis": "shift_jis",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "x-user-defined": "cp1252",
}


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _AS_BROWSERS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, the codec used) for a page's bytes."""
    for bom, name in _BOMS:  # a BOM outranks even the HTTP header
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name
    m = _CHARSET.search(content_type.encode("latin-1", "replace"))
    codec = _codec(m.group(1).decode("latin-1")) if m else None
    if codec is None:
        m = _CHARSET.search(body[:1024])
        codec = _codec(m.group(1).decode("latin-1")) if m else None
        if codec in ("utf-16-le", "utf-16-be", "utf-16"):
            codec = "utf-8"  # a meta can only be read because the page is not UTF-16
    if codec is None:
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            codec = _detect(body)
    return body.decode(codec, errors="replace"), codec


def _detect(body: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(body[:65536]).best()
    return _codec(best.encoding if best else None) or "cp1252"


def page_optout(tree: LexborHTMLParser, headers: dict[str, str], agent: str) -> str | None:
    """The name of the page's opt-out for its images, or None (`optout.page_optout`)."""
    metas = (
        (m.attributes.get("name"), m.attributes.get("content")) for m in tree.css("meta[name]")
    )
    return optout.page_optout(headers, metas, agent)


def _figcaption(node) -> str | None:
    parent = node.parent
    for _ in range(4):
        if parent is None:
            return None
        if parent.tag == "figure":
            cap = parent.css_first("figcaption")
            return cap.text(deep=True, separator=" ", strip=True) if cap is not None else None
        parent = parent.parent
    return None


def image_src(node) -> str | None:
    """The URL of the largest picture an <img> offers, before resolution: the widest `w`
    candidate, else the densest `x`, of its own srcset and src (a lazy data-src over a
    placeholder) and of its <picture>'s <source>s of types we decode; on a tie, the <img>'s
    own, which every client decodes."""
    a = node.attributes
    src = a.get("src")
    if not src or src.strip()[:5].lower() == "data:":
        src = next((a[k] for k in _LAZY_SRC if a.get(k)), src)
    candidates = [(src, "x", 1.0)] if src and src.strip() else []
    for k in ("srcset", *_LAZY_SRCSET):
        if a.get(k):
            candidates += parse_srcset(a[k])
    parent = node.parent
    if parent is not None and parent.tag == "picture":
        for source in parent.css("source"):
            sa = source.attributes
            if (sa.get("type") or "").split(";")[0].strip().lower() not in _DECODED_TYPES:
                continue
            for k in ("srcset", *_LAZY_SRCSET):
                if sa.get(k):
                    candidates += parse_srcset(sa[k])
    return best_candidate(candidates)


def base_url(tree: LexborHTMLParser, page_url: str) -> str:
    node = tree.css_first("base[href]")
    if node is None:
        return page_url
    url, _ = normalize_url(node.attributes.get("href"), page_url)
    return url or page_url


def raw_pairs(tree: LexborHTMLParser, page_url: str, stats: Counter) -> list[dict]:
    """(url, alt, title, figcaption) per image. An image met twice on the page with text
    only once (a lazy <img> and its <noscript> twin, which lexbor parses as markup: scripting
    off) is one pair with that text."""
    base = base_url(tree, page_url)
    rows: list[dict] = []
    first: dict[str, dict] = {}
    for node in tree.css("img"):
        stats["images_seen"] += 1
        url, why = normalize_url(image_src(node), base)
        if url is None:
            stats[f"dropped_{why}"] += 1
            continue
        a = node.attributes
        row = {"url": url, "alt": a.get("alt"), "title": a.get("title")}
        row["figcaption"] = _figcaption(node)
        prev = first.get(url)
        if prev is not None and not (_has_text(prev) and _has_text(row)):
            if not _has_text(prev):
                prev.update(alt=row["alt"], title=row["title"], figcaption=row["figcaption"])
            stats["dropped_twin_in_page"] += 1
            continue
        first.setdefault(url, row)
        rows.append(row)
    return rows


def _has_text(row: dict) -> bool:
    return any((row[k] or "").strip() for k in ("alt", "title", "figcaption"))
