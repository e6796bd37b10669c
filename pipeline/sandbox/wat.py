"""A WAT file for each sandbox WARC, in Common Crawl's layout, from the WARC's own records.

One `metadata` record per WARC record, its JSON shaped as Common Crawl's (ia-web-commons):
`Envelope` → `WARC-Header-Metadata` and `Payload-Metadata` → `HTTP-Response-Metadata` →
`Response-Message`, `Headers`, and for HTML `HTML-Metadata` → `Head` (Title, Metas, Base)
and `Links`. Each image is one `IMG@/src` link whose `url` is the image a browser loads (the
crawler's own reading of srcset, lazy and picture markup) and whose `alt`/`title` are the
attributes; `figcaption`, when the image has one, is this sandbox's addition. So the WAT and
WARC harvests of the sandbox meet one truth, while Common Crawl's own WATs (raw `src` only)
give fewer pairs than its WARCs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fastwarc.warc import ArchiveIterator
from selectolax.lexbor import LexborHTMLParser

from openwit.pipeline.crawl.harvest import http_body
from openwit.pipeline.crawl.html import decode_html, raw_pairs
from openwit.pipeline.sandbox.warc import WarcWriter


def _html_metadata(body: bytes, ctype: str, page_url: str) -> dict:
    text, _ = decode_html(body, ctype)
    tree = LexborHTMLParser(text)
    title = tree.css_first("title")
    base = tree.css_first("base[href]")
    head: dict = {}
    if title is not None:
        head["Title"] = title.text(strip=True)
    metas = [{k: v for k, v in m.attributes.items() if v is not None} for m in tree.css("meta")]
    if metas:
        head["Metas"] = metas
    if base is not None:
        head["Base"] = base.attributes.get("href")
    links = []
    for r in raw_pairs(tree, page_url, Counter()):
        link = {"path": "IMG@/src", "url": r["url"]}
        for key in ("alt", "title", "figcaption"):
            if r[key] is not None:
                link[key] = r[key]
        links.append(link)
    return {"Head": head, "Links": links}


def write_wat(warc: Path, wat: Path, rng_bytes) -> None:
    """wat: the metadata of every request and response record of warc."""
    tmp = wat.with_name(f".{wat.name}.tmp")
    with open(warc, "rb") as src, open(tmp, "wb") as f:
        w = WarcWriter(f, rng_bytes)
        for rec in ArchiveIterator(src, parse_http=True):
            kind = rec.headers.get("WARC-Type")
            if kind not in ("request", "response"):
                continue
            uri = rec.headers.get("WARC-Target-URI", "")
            date = rec.headers.get("WARC-Date", "")
            env = {
                "Format": "WARC",
                "WARC-Header-Metadata": {k: v for k, v in rec.headers},
                "Payload-Metadata": {"Actual-Content-Type": rec.headers.get("Content-Type")},
            }
            http = rec.http_headers
            body = rec.reader.read()
            if kind == "response" and http is not None:
                headers = dict(http)
                meta: dict = {
                    "Response-Message": {
                        "Version": "HTTP/1.1",
                        "Status": str(http.status_code),
                        "Reason": http.reason_phrase,
                    },
                    "Headers": headers,
                }
                ctype = next((v for k, v in http if k.lower() == "content-type"), "")
                if http.status_code == 200 and "html" in ctype.lower():
                    lower = {k.lower(): v for k, v in http}
                    meta["HTML-Metadata"] = _html_metadata(http_body(body, lower), ctype, uri)
                env["Payload-Metadata"]["HTTP-Response-Metadata"] = meta
            block = json.dumps({"Envelope": env}, ensure_ascii=False).encode()
            w.record(
                "metadata",
                date,
                block,
                {
                    "WARC-Target-URI": uri,
                    "WARC-Refers-To": rec.headers.get("WARC-Record-ID", ""),
                    "Content-Type": "application/json",
                },
            )
    tmp.replace(wat)
