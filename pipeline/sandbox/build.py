"""Write the sandbox web: WARC pages, evaluation sets and the ground truth, atomically.

data/sandbox/
  sandbox.json                       config, counts, layout
  crawl-data/SANDBOX-2024-18/warc.paths.gz
  crawl-data/SANDBOX-2024-18/segments/<seg>/warc/*.warc.gz
  crawl-data/SANDBOX-2024-18/wat.paths.gz, segments/<seg>/wat/*.warc.wat.gz (wat.py)
  truth/{candidates,images,pages,hosts}.parquet, truth/summary.json
  eval/<set>/<label>/<id>.jpg, eval/<set>/labels.parquet, eval/classes.json
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openwit.core import jobs
from openwit.core.io import atomic_write_text
from openwit.pipeline.sandbox import captions, clipart, evalset, html, sources
from openwit.pipeline.sandbox.config import SandboxConfig
from openwit.pipeline.sandbox.plan import Plan, make_plan
from openwit.pipeline.sandbox.warc import WarcWriter
from openwit.pipeline.sandbox.wat import write_wat

CRAWL = "SANDBOX-2024-18"
# Bumped whenever one seed would build other pages or images: an older build is rebuilt.
FORMAT_VERSION = 8  # 6: emoji art, its eval sets; 7: semantic duplicates; 8: site chrome
_EPOCH = datetime(2024, 5, 1, tzinfo=UTC)


def _raw_caption(c: dict) -> str:
    return captions.mojibake(c["caption"]) if c["caption_kind"] == "mojibake" else c["caption"]


def _other_body(kind: str, rng: np.random.Generator) -> tuple[str, str, bytes]:
    """(status, content type, body) for a page that holds no usable HTML."""
    noise = rng.integers(0, 256, int(rng.integers(200, 2000)), dtype=np.uint8).tobytes()
    if kind == "garbage":
        return "200 OK", "text/html; charset=utf-8", noise
    if kind == "http_error":
        return "404 Not Found", "text/html", b"<html><body><h1>Not Found</h1></body></html>"
    choice = int(rng.integers(3))
    if choice == 0:
        return "200 OK", "application/pdf", b"%PDF-1.4\n" + noise
    if choice == 1:
        return "200 OK", "text/plain", b"User-agent: *\nplain text, no images here\n"
    return "200 OK", "application/json", b'{"items": [], "images": "none"}'


def write_warcs(plan: Plan, out: Path, cfg: SandboxConfig) -> list[str]:
    rng = np.random.default_rng([cfg.seed, 201])
    by_page: dict[int, list[dict]] = {}
    for c in plan.candidates:
        by_page.setdefault(c["page_id"], []).append(c)
    paths = []
    n = cfg.n_warc_files
    for k in range(n):
        seg = f"segments/{1714521600000 + k // 4}"
        name = f"{CRAWL}-2024050100000{k // 4}-{k:05d}.warc.gz"
        rel = f"crawl-data/{CRAWL}/{seg}/warc/{name}"
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            w = WarcWriter(f, lambda m: rng.integers(0, 256, m, dtype=np.uint8).tobytes())
            w.warcinfo(
                _EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
                name,
                {
                    "software": "openwit-sandbox",
                    "format": "WARC File Format 1.0",
                    "isPartOf": CRAWL,
                },
            )
            for page in plan.pages[k::n]:
                date = (_EPOCH + timedelta(seconds=page["page_id"])).strftime("%Y-%m-%dT%H:%M:%SZ")
                page["warc_file"] = rel
                if page["kind"] in ("html", "malformed"):
                    cands = by_page.get(page["page_id"], [])
                    doc = html.page_html(page, cands, [_raw_caption(c) for c in cands], rng)
                    w.exchange(
                        date, page["url"], "200 OK", "text/html; charset=utf-8", doc.encode()
                    )
                else:
                    w.exchange(date, page["url"], *_other_body(page["kind"], rng))
        paths.append(rel)
    listing = out / "crawl-data" / CRAWL / "warc.paths.gz"
    listing.write_bytes(gzip.compress("".join(p + "\n" for p in paths).encode(), mtime=0))
    wat_rng = np.random.default_rng([cfg.seed, 202])  # its own stream: the WARCs stay as they were
    wats = []
    for rel in paths:
        wat_rel = rel.replace("/warc/", "/wat/").removesuffix(".warc.gz") + ".warc.wat.gz"
        (out / wat_rel).parent.mkdir(parents=True, exist_ok=True)
        write_wat(
            out / rel,
            out / wat_rel,
            lambda m: wat_rng.integers(0, 256, m, dtype=np.uint8).tobytes(),
        )
        wats.append(wat_rel)
    listing = out / "crawl-data" / CRAWL / "wat.paths.gz"
    listing.write_bytes(gzip.compress("".join(p + "\n" for p in wats).encode(), mtime=0))
    return paths


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    )


def write_truth(plan: Plan, out: Path) -> dict:
    truth = out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    for c in plan.candidates:
        raw = _raw_caption(c)
        form = c["html_form"]
        c["alt"] = raw if form not in ("figure", "title_only") else ""
        c["title"] = raw if form == "title_only" else None
        c["figcaption"] = raw if form == "figure" else None
        c["warc_file"] = plan.pages[c["page_id"]]["warc_file"]
        c.setdefault("dup_caption_of", None)
    for name, rows in (
        ("candidates", plan.candidates),
        ("images", plan.images),
        ("pages", plan.pages),
        ("hosts", plan.hosts),
    ):
        pq.write_table(_table(rows), truth / f"{name}.parquet")
    return summarise(plan)


def summarise(plan: Plan) -> dict:
    c, i = plan.candidates, plan.images
    chrome = Counter(r["chrome"].split(":")[0] for r in c if r["chrome"])

    def count(rows: list[dict], key: str) -> dict[str, int]:
        return dict(sorted(Counter(str(r[key]) for r in rows).items()))

    return {
        "hosts": len(plan.hosts),
        "pages": len(plan.pages),
        "candidates": len(c),
        "image_urls": len(i),
        "page_kinds": count(plan.pages, "kind"),
        "page_langs": count(plan.pages, "lang"),
        "robots_rules": count(plan.hosts, "robots"),
        "image_groups": count(c, "group"),
        "faults": count(i, "fault"),
        "caption_kinds": count(c, "caption_kind"),
        "caption_langs": count(c, "lang"),
        "html_forms": count(c, "html_form"),
        "formats": count(i, "fmt"),
        "asset_kinds": count(i, "asset_kind"),
        "transforms": count(i, "transform"),
        "expected_status_by_candidate": count(c, "expected_status"),
        "expected_status_by_url": count(i, "expected_status"),
        "contaminated_candidates": sum(1 for r in c if r["group"] == "contaminated"),
        "chrome": dict(sorted(chrome.items())),
        "chrome_contents": len({r["chrome"] for r in c if r["chrome"]}),
    }


def summary_kinds(plan: Plan) -> set[str]:
    return {r["asset_kind"] for r in plan.images}


def build(out: str | Path, cfg: SandboxConfig | None = None) -> dict:
    """Build into `out` (replacing it whole, via a temporary sibling); returns the summary."""
    cfg = cfg or SandboxConfig()
    out = Path(out)
    tmp = out.with_name(f".{out.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    clips = clipart.catalogue(Path(cfg.clipart_dir))
    items, held = evalset.make_items(cfg, clips)
    eval_counts = evalset.write(items, tmp / "eval", Path(cfg.clipart_dir))
    plan = make_plan(cfg, clips, held, items)
    warcs = write_warcs(plan, tmp, cfg)
    summary = write_truth(plan, tmp) | {
        "eval": eval_counts,
        "warc_files": len(warcs),
        "clipart_available": bool(clips),
        "emoji_available": "emoji" in summary_kinds(plan),
    }
    atomic_write_text(tmp / "truth" / "summary.json", json.dumps(summary, indent=2) + "\n")
    kinds = summary["asset_kinds"]
    text = sources.attribution(
        clipart="clip" in kinds, emoji="emoji" in kinds, animals="animals" in eval_counts
    )
    atomic_write_text(tmp / jobs.ATTRIBUTION, text)
    meta = {
        "format_version": FORMAT_VERSION,
        "config": asdict(cfg),
        "crawl": CRAWL,
        "warc_paths": f"crawl-data/{CRAWL}/warc.paths.gz",
        "summary": summary,
    }
    atomic_write_text(tmp / "sandbox.json", json.dumps(meta, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return summary


def is_built(out: str | Path, cfg: SandboxConfig) -> bool:
    meta = Path(out) / "sandbox.json"
    if not meta.is_file():
        return False
    saved = json.loads(meta.read_text())
    return saved.get("format_version") == FORMAT_VERSION and saved.get("config") == json.loads(
        json.dumps(asdict(cfg))
    )
