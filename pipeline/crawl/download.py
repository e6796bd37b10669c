"""Download step: fetch, validate, resize and re-encode the rows of one shard.

Every row ends with exactly one status: `success`, or the name of what stopped it (from the
fetcher: robots_disallowed, blocked_address, dns_error, timeout, connection_reset, http_404,
redirect_loop, noai_header, tdm_reserved, too_large, …; from the list: sha256_mismatch; from
the image: not_an_image, decode_error, too_large). Threads overlap the waiting; the fetcher
keeps each host's limits.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import pyarrow as pa

from openwit.core.vocab import SUCCESS
from openwit.pipeline.crawl.http.fetch import FetchConfig, Fetcher
from openwit.pipeline.crawl.resize import Processed, ResizeConfig, process

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("pair_id", pa.string()),
        ("url", pa.string()),
        ("caption", pa.string()),
        ("page_url", pa.string()),
        ("page_lang", pa.string()),
        ("matched", pa.list_(pa.int32())),
        ("status", pa.string()),
        ("error_message", pa.string()),
        ("http_status", pa.int32()),
        ("final_url", pa.string()),
        ("redirects", pa.int32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("original_width", pa.int32()),
        ("original_height", pa.int32()),
        ("sha256", pa.string()),
        ("bytes", pa.int64()),
        ("extra", pa.string()),  # a URL list's kept columns, JSON
    ]
)


@dataclass(frozen=True)
class DownloadConfig:
    fetch: FetchConfig = field(default_factory=FetchConfig)
    resize: ResizeConfig = field(default_factory=ResizeConfig)
    threads: int = 64  # waiting on sockets is cheap; a few hanging hosts then idle few


def _one(row: dict, fetcher: Fetcher, cfg: DownloadConfig) -> tuple[dict, Processed | None]:
    resp = fetcher.get(row["url"])
    out = {
        **{
            k: row.get(k)
            for k in (
                "key",
                "pair_id",
                "url",
                "caption",
                "page_url",
                "page_lang",
                "matched",
                "extra",
            )
        },
        "status": resp.status,
        "error_message": resp.error or None,
        "http_status": resp.http_status,
        "final_url": resp.url,
        "redirects": resp.redirects,
        "bytes": len(resp.body) if resp.body is not None else None,
    }
    if resp.status != SUCCESS:
        return out, None
    expected = _expected_sha256(row.get("extra"))
    if expected and hashlib.sha256(resp.body).hexdigest() != expected:
        out.update(status="sha256_mismatch", error_message=f"list says sha256 {expected[:16]}…")
        return out, None
    img = process(resp.body, resp.headers.get("content-type", ""), cfg.resize)
    out.update(
        status=img.status,
        error_message=img.error or None,
        width=img.width,
        height=img.height,
        original_width=img.original_width,
        original_height=img.original_height,
        sha256=img.sha256,
    )
    return out, img if img.status == SUCCESS else None


def _expected_sha256(extra: str | None) -> str | None:
    """The image's sha256 when its URL list gives one (DataComp's `sha256` column)."""
    if not extra or '"sha256"' not in extra:
        return None
    value = json.loads(extra).get("sha256")
    return value.strip().lower() if isinstance(value, str) and len(value.strip()) == 64 else None


@dataclass
class _Shard:
    rows: list[dict]
    start: float
    results: list = field(default_factory=list)
    left: int = 0
    fed: bool = False


def download_shards(
    shards: Iterable[tuple[int, list[dict]]], fetcher: Fetcher, cfg: DownloadConfig
) -> Iterator[tuple[int, tuple[list[dict], list[dict], dict]]]:
    """(shard id, (samples, rows, stats)) for each shard as soon as its last row is done.

    One thread pool serves every shard, with at most 2 × threads rows queued: a slow URL
    holds one thread while the next shard's rows keep the others busy, so a shard's
    stragglers never idle the crawl. Shards are yielded in the order they finish."""
    pending: dict[int, _Shard] = {}
    it = iter(shards)
    current: tuple[int, _Shard] | None = None
    next_row, exhausted = 0, False
    window = 2 * max(1, cfg.threads)
    with ThreadPoolExecutor(max(1, cfg.threads)) as pool:
        in_flight: dict = {}
        while True:
            while len(in_flight) < window and not exhausted:
                if current is None:
                    got = next(it, None)
                    if got is None:
                        exhausted = True
                        break
                    sid, rows = got
                    sh = _Shard(rows, time.time(), [None] * len(rows), len(rows))
                    current, next_row = (sid, sh), 0
                    pending[sid] = sh
                sid, sh = current
                if next_row >= len(sh.rows):
                    sh.fed, current = True, None
                    continue
                in_flight[pool.submit(_one, sh.rows[next_row], fetcher, cfg)] = (sid, next_row)
                next_row += 1
            for sid in [k for k, sh in pending.items() if sh.fed and sh.left == 0]:
                sh = pending.pop(sid)
                yield sid, _shard_output(sh.results, sh.start, cfg)
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in done:
                sid, j = in_flight.pop(fut)
                sh = pending[sid]
                sh.results[j] = fut.result()  # ResourceExhausted fails the task here
                sh.left -= 1


def _shard_output(results: list, start: float, cfg: DownloadConfig):
    samples, out_rows = [], []
    for out, img in results:
        out_rows.append(out)
        if img is not None:
            meta = {
                k: out[k]
                for k in (
                    "key",
                    "url",
                    "caption",
                    "page_url",
                    "status",
                    "width",
                    "height",
                    "original_width",
                    "original_height",
                    "sha256",
                )
            }
            meta["matched"] = list(out["matched"] or [])
            samples.append(
                {
                    "key": out["key"],
                    "image": img.data,
                    "ext": cfg.resize.encode_format,
                    "caption": out["caption"],
                    "meta": meta,
                }
            )
    by_status = Counter(r["status"] for r in out_rows)
    image_failures = {"not_an_image", "decode_error"}
    end = time.time()
    stats = {
        "count": len(out_rows),
        "successes": by_status.get(SUCCESS, 0),
        "failed_to_download": sum(
            n for s, n in by_status.items() if s != SUCCESS and s not in image_failures
        ),
        "failed_to_resize": sum(by_status.get(s, 0) for s in image_failures),
        "status_dict": dict(sorted(by_status.items())),
        "start_time": start,
        "end_time": end,
        "duration": round(end - start, 3),
        "bytes_downloaded": sum(r["bytes"] or 0 for r in out_rows),
    }
    return samples, out_rows, stats
