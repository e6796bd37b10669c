"""Harvest (image URL, text) pairs from web archives: WARC pages or their WAT metadata.

WARC: every 200 HTML response record, its body as the server sent it undone (chunked
transfer, then any `Content-Encoding`: gzip, deflate, br, zstd — wget and warcio store pages
that way), decoded to text as browsers do (`html.decode_html`), each image and its text as
`html.raw_pairs` reads them. WAT (Common Crawl's JSON metadata per record, several times
smaller than the WARC): the `IMG@/src` links of each response with their `alt`/`title`,
cc2dataset's way; Common Crawl's WATs record `src` only, so lazy, srcset and figure-caption
images are WARC-only there. ARC files (the format before WARC) are refused with a message.
Captions are cleaned by `caption.clean_caption`. Records that are not 200 HTML, and pages
that fail to parse, are counted, never fatal. Parsing is fastwarc + lexbor (selectolax).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zlib
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
from selectolax.lexbor import LexborHTMLParser

from openwit.core import storage
from openwit.pipeline.crawl.caption import CLEANING_VERSION, clean_caption
from openwit.pipeline.crawl.html import decode_html, page_optout, raw_pairs
from openwit.pipeline.crawl.http import optout as optouts
from openwit.pipeline.crawl.urls import normalize_url

SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("url", pa.string()),
        ("caption", pa.string()),
        ("alt", pa.string()),
        ("title", pa.string()),
        ("figcaption", pa.string()),
        ("page_url", pa.string()),
        ("page_lang", pa.string()),
        ("source", pa.string()),
        ("optout", pa.string()),  # the page's opt-out for its images (page_meta_robots, …)
        ("extra", pa.string()),  # a URL list's kept columns, JSON per row
    ]
)


@dataclass(frozen=True)
class HarvestConfig:
    max_caption_chars: int = 20_000  # longer text is cut, not dropped: filters decide later
    keep_empty_captions: bool = True  # kept so every <img> gets a status (no_match)
    agent: str = "openwit"  # the product token page opt-outs may name
    cleaning: str = CLEANING_VERSION


class ArcRefused(ValueError):
    pass


def pair_id(url: str, caption: str, page_url: str | None) -> str:
    """A stable id for a pair, the same whichever partition or machine meets it."""
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{url}\0{caption}\0{page_url or ''}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def finish_pairs(
    raw: list[dict],
    page_url: str,
    lang: str | None,
    optout: str | None,
    cfg: HarvestConfig,
    stats: Counter,
) -> list[dict]:
    """Raw (url, alt, title, figcaption) rows to pairs: caption chosen and cleaned, ids set."""
    rows = []
    limit = cfg.max_caption_chars
    for r in raw:
        caption = (
            clean_caption(r["alt"], limit)
            or clean_caption(r.get("figcaption"), limit)
            or clean_caption(r["title"], limit)
        )
        if not caption and not cfg.keep_empty_captions:
            stats["dropped_empty_caption"] += 1
            continue
        rows.append(
            {
                "pair_id": pair_id(r["url"], caption, page_url),
                "url": r["url"],
                "caption": caption,
                "alt": r["alt"],
                "title": r["title"],
                "figcaption": r.get("figcaption"),
                "page_url": page_url,
                "page_lang": lang,
                "optout": optout,
                "extra": None,
            }
        )
    if optout and rows:
        stats[f"pairs_{optout}"] += len(rows)
    return rows


def extract_pairs(
    html: str, page_url: str, cfg: HarvestConfig, stats: Counter, headers: dict | None = None
) -> list[dict]:
    tree = LexborHTMLParser(html)
    root = tree.css_first("html")
    lang = (root.attributes.get("lang") or None) if root is not None else None
    optout = page_optout(tree, headers or {}, cfg.agent)
    return finish_pairs(raw_pairs(tree, page_url, stats), page_url, lang, optout, cfg, stats)


def _dechunk(data: bytes) -> bytes:
    out, i = [], 0
    while True:
        end = data.index(b"\r\n", i)
        size = int(data[i:end].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2 : end + 2 + size])
        i = end + 2 + size + 2


def http_body(body: bytes, headers: dict[str, str]) -> bytes:
    """The entity as a browser sees it: transfer coding and content codings undone."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        # Stored already de-chunked (Common Crawl keeps the header, not the coding): as is.
        with contextlib.suppress(ValueError):
            body = _dechunk(body)
    codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",")]
    for coding in reversed([c for c in codings if c and c != "identity"]):
        body = _undo(coding, body)
    return body


def _undo(coding: str, body: bytes) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    if coding == "br":
        import brotli

        return brotli.decompress(body)
    if coding == "zstd":
        from backports import zstd

        return zstd.decompress(body)
    raise ValueError(f"content coding {coding!r}")


def check_not_arc(path: str) -> None:
    name = path.lower()
    if name.endswith((".arc", ".arc.gz")) and not name.endswith((".warc", ".warc.gz")):
        raise ArcRefused(
            f"{path}: an ARC file (the Internet Archive's format before WARC); convert it first "
            "(e.g. `warcio recompress`, or `arc2warc` from warctools) and pass the WARC"
        )


def is_wat(path: str) -> bool:
    return path.lower().endswith((".wat.gz", ".wat"))


def harvest_warc(path: str, cfg: HarvestConfig = HarvestConfig()) -> tuple[pa.Table, Counter]:
    """Every pair on the HTML pages of one WARC file, and counts of what was skipped."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    check_not_arc(path)
    if is_wat(path):
        return harvest_wat(path, cfg)
    stats: Counter = Counter()
    rows: list[dict] = []
    with storage.open_input(path) as f:
        try:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                stats["records"] += 1
                http = rec.http_headers
                if http is None or http.status_code != 200:
                    stats["skipped_not_200"] += 1
                    continue
                headers = {k.lower(): v for k, v in http}
                ctype = headers.get("content-type", "")
                if "html" not in ctype.lower():
                    stats["skipped_not_html"] += 1
                    continue
                page_url = rec.headers.get("WARC-Target-URI", "")
                try:
                    text, _ = decode_html(http_body(rec.reader.read(), headers), ctype)
                    page_rows = extract_pairs(text, page_url, cfg, stats, headers)
                except Exception:  # one bad page never stops a file  # noqa: BLE001
                    stats["skipped_unparseable"] += 1
                    continue
                stats["html_pages"] += 1
                for r in page_rows:
                    r["source"] = path
                rows.extend(page_rows)
        except Exception:  # a truncated or corrupt archive: keep what was read  # noqa: BLE001
            stats["archive_errors"] += 1
    stats["pairs"] = len(rows)
    return pa.Table.from_pylist(rows, schema=SCHEMA), stats


def _wat_page(meta: dict, cfg: HarvestConfig, stats: Counter) -> tuple[str, list[dict]] | None:
    env = meta.get("Envelope") or {}
    head = env.get("WARC-Header-Metadata") or {}
    if head.get("WARC-Type") != "response":
        return None
    resp = (env.get("Payload-Metadata") or {}).get("HTTP-Response-Metadata") or {}
    stats["records"] += 1
    if str((resp.get("Response-Message") or {}).get("Status")) != "200":
        stats["skipped_not_200"] += 1
        return None
    html_meta = resp.get("HTML-Metadata")
    if html_meta is None:
        stats["skipped_not_html"] += 1
        return None
    page_url = head.get("WARC-Target-URI", "")
    headers = {k.lower(): v for k, v in (resp.get("Headers") or {}).items()}
    hmeta = html_meta.get("Head") or {}
    metas = ((m.get("name"), m.get("content")) for m in hmeta.get("Metas") or [])
    optout = optouts.page_optout(headers, metas, cfg.agent)
    base = page_url
    if hmeta.get("Base"):
        base = normalize_url(hmeta["Base"], page_url)[0] or page_url
    raw = []
    for link in html_meta.get("Links") or []:
        if link.get("path") != "IMG@/src":
            continue
        stats["images_seen"] += 1
        url, why = normalize_url(link.get("url"), base)
        if url is None:
            stats[f"dropped_{why}"] += 1
            continue
        raw.append(
            {
                "url": url,
                "alt": link.get("alt"),
                "title": link.get("title"),
                "figcaption": link.get("figcaption"),
            }
        )
    stats["html_pages"] += 1
    return page_url, finish_pairs(raw, page_url, hmeta.get("Lang"), optout, cfg, stats)


def harvest_wat(path: str, cfg: HarvestConfig = HarvestConfig()) -> tuple[pa.Table, Counter]:
    """Every image pair in the metadata records of one WAT file."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    stats: Counter = Counter()
    rows: list[dict] = []
    with storage.open_input(path) as f:
        try:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.metadata):
                try:
                    got = _wat_page(json.loads(rec.reader.read()), cfg, stats)
                except (ValueError, AttributeError, TypeError):
                    stats["skipped_unparseable"] += 1
                    continue
                if got is None:
                    continue
                for r in got[1]:
                    r["source"] = path
                rows.extend(got[1])
        except Exception:  # a truncated or corrupt archive: keep what was read  # noqa: BLE001
            stats["archive_errors"] += 1
    stats["pairs"] = len(rows)
    return pa.Table.from_pylist(rows, schema=SCHEMA), stats
