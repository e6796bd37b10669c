"""Harvest: WARC -> (image URL, text) pairs, ours (fastwarc + lexbor) vs a plain warcio +
BeautifulSoup extractor, the approach of cc2dataset-style scripts.

Both apply the same extraction rules (base href, srcset, lazy src, alt > figcaption > title,
the same URL normalisation and text cleaning), so the comparison is the WARC reader and the HTML
parser, and the pairs out must agree. One process each (per core), median of repeats.
Writes bench/results/harvest.json.
    python -m bench.harvest [--warcs data/sandbox/crawl-data] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin

from bench import common
from openwit.core.storage import expand_inputs
from openwit.pipeline.crawl.caption import clean_caption as clean_text
from openwit.pipeline.crawl.harvest import HarvestConfig, harvest_warc
from openwit.pipeline.crawl.html import _LAZY_SRC as _LAZY
from openwit.pipeline.crawl.html import decode_html
from openwit.pipeline.crawl.urls import best_srcset, normalize_url


def _decode(body: bytes, ctype: str) -> str:
    return decode_html(body, ctype)[0]


def _figcaption(img) -> str | None:
    parent = img.parent
    for _ in range(4):
        if parent is None:
            return None
        if parent.name == "figure":
            cap = parent.find("figcaption")
            return cap.get_text(" ", strip=True) if cap is not None else None
        parent = parent.parent
    return None


def peer_extract(path: str, parser: str) -> list[tuple[str, str, str]]:
    """(page URL, image URL, caption) for every <img> of the 200 HTML responses of one WARC."""
    from bs4 import BeautifulSoup
    from warcio.archiveiterator import ArchiveIterator

    limit = HarvestConfig.max_caption_chars
    pairs = []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type != "response" or rec.http_headers is None:
                continue
            ctype = rec.http_headers.get_header("Content-Type") or ""
            if rec.http_headers.get_statuscode() != "200" or "html" not in ctype.lower():
                continue
            page = rec.rec_headers.get_header("WARC-Target-URI") or ""
            soup = BeautifulSoup(_decode(rec.content_stream().read(), ctype), parser)
            base_tag = soup.find("base", href=True)
            base = urljoin(page, base_tag["href"]) if base_tag else page
            for img in soup.find_all("img"):
                a = {k: (" ".join(v) if isinstance(v, list) else v) for k, v in img.attrs.items()}
                src = a.get("src")
                lazy = next((a[k] for k in _LAZY if a.get(k)), None)
                if lazy and (not src or src.strip().lower().startswith("data:")):
                    src = lazy
                if a.get("srcset"):
                    src = best_srcset(a["srcset"]) or src
                url, _ = normalize_url(src, base)
                if url is None:
                    continue
                caption = (
                    clean_text(a.get("alt"), limit)
                    or clean_text(_figcaption(img), limit)
                    or clean_text(a.get("title"), limit)
                )
                pairs.append((page, url, caption))
    return pairs


def ours_extract(path: str) -> list[tuple[str, str, str]]:
    table, _ = harvest_warc(path)
    cols = [table.column(c).to_pylist() for c in ("page_url", "url", "caption")]
    return list(zip(*cols, strict=True))


def timed(fn, files: list[str], repeats: int) -> tuple[float, list]:
    times, out = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        out = [p for f in files for p in fn(f)]
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warcs", default="data/sandbox/crawl-data")
    ap.add_argument("--limit", type=int, default=0, help="first N WARC files only (smoke runs)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench/results/harvest.json")
    args = ap.parse_args()
    files = expand_inputs([args.warcs])  # the WARCs only: the sandbox's WATs sit beside them
    files = files[: args.limit] if args.limit else files
    if not files:
        raise SystemExit(f"{args.warcs}: no WARC files; run `make sandbox` or pass --warcs")
    pages = sum(1 for f in files for _ in _responses(f))
    ours_s, ours = timed(ours_extract, files, args.repeats)
    peers = {}
    for parser in ("lxml", "html.parser"):
        secs, pairs = timed(lambda f, p=parser: peer_extract(f, p), files, args.repeats)
        a, b = Counter(ours), Counter(pairs)
        peers[f"warcio+bs4[{parser}]"] = {
            "seconds": round(secs, 3),
            "pages_per_s": round(pages / secs, 1),
            "pairs": len(pairs),
            "pairs_agreeing": sum((a & b).values()),
            "ratio": round(secs / ours_s, 2),
        }
    best = min(peers.values(), key=lambda p: p["seconds"])
    result = {
        "benchmark": "harvest (WARC -> pairs), one process each",
        **common.stamp(),
        "warc_files": len(files),
        "warc_bytes": sum(Path(f).stat().st_size for f in files),
        "html_pages": pages,
        "ours": {"seconds": round(ours_s, 3), "pages_per_s": round(pages / ours_s, 1)},
        "pairs": len(ours),
        "peers": peers,
        "ratio": best["ratio"],  # against the faster peer
        "goal": 3.0,
        "met": best["ratio"] >= 3.0,
        "agreement": round(best["pairs_agreeing"] / max(1, len(ours)), 4),
    }
    common.write(args.out, result)


def _responses(path: str):
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as f:
        yield from ArchiveIterator(f, record_types=WarcRecordType.response)


if __name__ == "__main__":
    main()
