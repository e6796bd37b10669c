"""Download streams: a shard's slow URLs overlap with the next shard's work."""

import io
import time

from PIL import Image

from openwit.pipeline.crawl.download import DownloadConfig, download_shards
from openwit.pipeline.crawl.http.fetch import FetchConfig, Fetcher

from .http.web import response, serve


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def offline(web, *hosts, **kw) -> FetchConfig:
    """The web's hosts only, no retries, no robots.txt or tdmrep.json asked."""
    return FetchConfig(
        resolve=web.resolve(*hosts),
        allow=web.allow,
        resolve_only=True,
        max_retries=0,
        respect_robots=False,
        respect_tdmrep=False,
        **kw,
    )


def rows(urls):
    return [{"key": str(i), "url": u, "caption": "c", "matched": [1]} for i, u in enumerate(urls)]


def test_a_hanging_url_does_not_hold_the_next_shards():
    with serve() as web:
        body = png()
        for i in range(40):
            web.route("fast.test", f"/{i}.png", response(200, body, {"Content-Type": "image/png"}))
        web.route("hang.test", "/x.png", [(b"", 30.0)])
        fetch = offline(web, "fast.test", "hang.test", timeout=2.0, host_rps=1000.0)
        cfg = DownloadConfig(fetch=fetch, threads=4)
        shards = [
            (
                0,
                rows(["http://hang.test/x.png"] + [f"http://fast.test/{i}.png" for i in range(10)]),
            ),
            *(
                (k, rows([f"http://fast.test/{i}.png" for i in range(10 * k, 10 * k + 10)]))
                for k in (1, 2, 3)
            ),
        ]
        t0 = time.monotonic()
        order, finished = [], {}
        for sid, (_samples, out_rows, stats) in download_shards(shards, Fetcher(fetch), cfg):
            order.append(sid)
            finished[sid] = time.monotonic() - t0
            assert stats["count"] == len(out_rows) == len(dict(shards)[sid])
        assert order[-1] == 0 and sorted(order) == [0, 1, 2, 3]
        # Written while shard 0 waited for its hanging URL (2 s), not after it.
        assert max(finished[k] for k in (1, 2, 3)) < finished[0] - 0.5
        assert finished[0] >= 1.9


def test_a_host_that_keeps_timing_out_is_not_asked_further():
    with serve() as web:
        for i in range(8):
            web.route("hang.test", f"/{i}.png", [(b"", 30.0)])
        fetch = offline(web, "hang.test", timeout=0.3, host_concurrency=1)
        f = Fetcher(fetch)
        t0 = time.monotonic()
        statuses = [f.get(f"http://hang.test/{i}.png").status for i in range(8)]
        assert statuses == ["timeout"] * 3 + ["host_unresponsive"] * 5
        assert time.monotonic() - t0 < 2.0
        assert web.asked("hang.test", "/5.png") == 0
