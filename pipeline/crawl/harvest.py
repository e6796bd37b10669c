"""Harvest (image URL, text) pairs from web archives and URL lists.

For every `<img>` on an HTML page: the absolute, normalised image URL (relative URLs resolved
against the page and its `<base>`, the widest `srcset` candidate when there is no usable
`src`, lazy `data-src` over a placeholder), and its text: the alt text, else the enclosing
figure's caption, else the title. Text is unescaped, mojibake repaired (ftfy), whitespace
collapsed. Records that are not 200 HTML, and pages that fail to parse, are counted, never
fatal. Parsing is fastwarc + lexbor (selectolax): both C, several times warcio + BeautifulSoup.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import ftfy
import pyarrow as pa
from selectolax.lexbor import LexborHTMLParser

from openwit.core import storage

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
    ]
)
_LAZY = ("data-src", "data-lazy-src", "data-original")
_WS = re.compile(r"\s+")
# Text ftfy could change: anything outside printable ASCII and whitespace (mojibake, controls,
# terminal escapes). Most alt text is plain ASCII and skips ftfy, the costliest step here.
_NEEDS_FTFY = re.compile(r"[^\t\n\r\x20-\x7e]")
_CHARSET = re.compile(rb"charset=[\"']?([A-Za-z0-9_\-]+)", re.I)
_FTFY = ftfy.TextFixerConfig(
    uncurl_quotes=False,
    unescape_html=False,
    fix_character_width=False,
    fix_latin_ligatures=False,
    explain=False,
)


@dataclass(frozen=True)
class HarvestConfig:
    max_caption_chars: int = 20_000  # longer text is cut, not dropped: filters decide later
    keep_empty_captions: bool = True  # kept so every <img> gets a status (no_match)


def pair_id(url: str, caption: str, page_url: str | None) -> str:
    """A stable id for a pair, the same whichever partition or machine meets it."""
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{url}\0{caption}\0{page_url or ''}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def normalize_url(raw: str | None, base: str) -> tuple[str | None, str]:
    """(absolute URL, "") or (None, why it was dropped)."""
    raw = (raw or "").strip()
    if not raw:
        return None, "no_src"
    head = raw[:11].lower()
    if head.startswith("data:"):
        return None, "data_url"
    try:
        # urljoin leaves an absolute URL as it is; skipping it halves the cost of the common case.
        absolute = head.startswith(("http://", "https://"))
        parts = urlsplit(raw if absolute else urljoin(base, raw))
        port = parts.port
    except ValueError:
        return None, "bad_url"
    if parts.scheme not in ("http", "https"):
        return None, "not_http"
    host = parts.hostname
    if not host:
        return None, "bad_url"
    if ":" in host:
        host = f"[{host}]"
    default = 80 if parts.scheme == "http" else 443
    netloc = host if port in (None, default) else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), ""


def best_srcset(srcset: str) -> str | None:
    """The widest (`w`) or densest (`x`) candidate of a srcset attribute."""
    best, best_score = None, -1.0
    for cand in srcset.split(","):
        bits = cand.strip().split()
        if not bits:
            continue
        score = 1.0
        if len(bits) > 1 and bits[1][:-1].replace(".", "", 1).isdigit():
            score = float(bits[1][:-1]) * (1.0 if bits[1].endswith("w") else 1000.0)
        if score > best_score:
            best, best_score = bits[0], score
    return best


def clean_text(text: str | None, limit: int) -> str:
    if not text:
        return ""
    if _NEEDS_FTFY.search(text):
        text = ftfy.fix_text(text, _FTFY)
    return _WS.sub(" ", text).strip()[:limit]


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


def extract_pairs(html: str, page_url: str, cfg: HarvestConfig, stats: Counter) -> list[dict]:
    tree = LexborHTMLParser(html)
    base_node = tree.css_first("base[href]")
    base = urljoin(page_url, base_node.attributes.get("href") or "") if base_node else page_url
    root = tree.css_first("html")
    lang = (root.attributes.get("lang") or None) if root is not None else None
    rows = []
    for node in tree.css("img"):
        stats["images_seen"] += 1
        a = node.attributes
        src = a.get("src")
        lazy = next((a[k] for k in _LAZY if a.get(k)), None)
        if lazy and (not src or src.strip().lower().startswith("data:")):
            src = lazy
        if a.get("srcset"):  # the widest candidate is the image; src is often a thumbnail
            src = best_srcset(a["srcset"]) or src
        url, why = normalize_url(src, base)
        if url is None:
            stats[f"dropped_{why}"] += 1
            continue
        alt, title, fig = a.get("alt"), a.get("title"), _figcaption(node)
        caption = (
            clean_text(alt, cfg.max_caption_chars)
            or clean_text(fig, cfg.max_caption_chars)
            or clean_text(title, cfg.max_caption_chars)
        )
        if not caption and not cfg.keep_empty_captions:
            stats["dropped_empty_caption"] += 1
            continue
        rows.append(
            {
                "pair_id": pair_id(url, caption, page_url),
                "url": url,
                "caption": caption,
                "alt": alt,
                "title": title,
                "figcaption": fig,
                "page_url": page_url,
                "page_lang": lang,
            }
        )
    return rows


def _decode(body: bytes, content_type: str) -> str:
    m = _CHARSET.search(content_type.encode()) or _CHARSET.search(body[:2048])
    charset = m.group(1).decode() if m else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def harvest_warc(path: str, cfg: HarvestConfig = HarvestConfig()) -> tuple[pa.Table, Counter]:
    """Every pair on the HTML pages of one WARC file, and counts of what was skipped."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    stats: Counter = Counter()
    rows: list[dict] = []
    with storage.open_input(path) as f:
        try:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                stats["records"] += 1
                http = rec.http_headers
                ctype = (http.get("Content-Type") or "") if http is not None else ""
                if http is None or http.status_code != 200:
                    stats["skipped_not_200"] += 1
                    continue
                if "html" not in ctype.lower():
                    stats["skipped_not_html"] += 1
                    continue
                page_url = rec.headers.get("WARC-Target-URI", "")
                try:
                    page_rows = extract_pairs(
                        _decode(rec.reader.read(), ctype), page_url, cfg, stats
                    )
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


def harvest_url_list(
    path: str, url_col: str = "url", caption_col: str = "caption"
) -> tuple[pa.Table, Counter]:
    """An img2dataset-style list: Parquet, CSV or JSONL with a URL and a caption column."""
    table = storage.read_table(path)
    for col in (url_col, caption_col):
        if col not in table.column_names:
            raise ValueError(
                f"{path}: no column {col!r} (has {table.column_names}); "
                "name the columns with --url-col/--caption-col"
            )
    stats: Counter = Counter()
    rows = []
    for raw, cap in zip(
        table.column(url_col).to_pylist(), table.column(caption_col).to_pylist(), strict=True
    ):
        stats["images_seen"] += 1
        url, why = normalize_url(raw, "")
        if url is None:
            stats[f"dropped_{why}"] += 1
            continue
        caption = clean_text(cap, HarvestConfig.max_caption_chars)
        rows.append(
            {
                "pair_id": pair_id(url, caption, None),
                "url": url,
                "caption": caption,
                "alt": cap,
                "title": None,
                "figcaption": None,
                "page_url": None,
                "page_lang": None,
                "source": path,
            }
        )
    stats["pairs"] = len(rows)
    return pa.Table.from_pylist(rows, schema=SCHEMA), stats
