"""A URL-list crawl over more hosts than the process may open files, against a loopback web
of the tests' own: everything a run with a high limit downloads, nothing lost silently."""

import gzip
import io
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from .http.web import response, serve

HOSTS = 600
PER_HOST = 4


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (i % 256, (7 * i) % 256, 90)).save(buf, "PNG")
    return buf.getvalue()


def _site(web, h: int) -> list[str]:
    host = f"h{h}.test"
    if h % 10 == 0:
        web.route(host, "/robots.txt", response(200, b"User-agent: *\nDisallow: /*.png$\n"))
    urls = []
    for k in range(PER_HOST):
        path = f"/img/{k}.png" if k % 2 else f"/img/{k}.png?v=1"  # the wildcard's `$` decides
        body, headers = _png(h * PER_HOST + k), {"Content-Type": "image/png"}
        if h % 7 == 0 and k == 1:
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body)
        if h % 11 == 0 and k == 2:
            headers["X-Robots-Tag"] = "noai"
        web.route(host, path, response(200, body, headers, chunked=(k == 3)))
        urls.append(f"http://{host}{path}")
    return urls


def _crawl(tmp_path, web, urls, name: str, nofile: int | None) -> dict[str, str]:
    lst = tmp_path / "list.parquet"
    if not lst.exists():
        pq.write_table(
            pa.table({"url": urls, "caption": [f"a red dog {i}" for i in range(len(urls))]}), lst
        )
        (tmp_path / "metadata.json").write_text(json.dumps(["dog", "red"]))
    out = tmp_path / name
    argv = [
        "crawl",
        str(lst),
        "--urls",
        "--queries",
        str(tmp_path / "metadata.json"),
        "--out",
        str(out),
    ]
    argv += ["--executor", "local", "--timeout", "5", "--offline", "--allow", web.allow[0]]
    argv += ["--host-rps", "1000"]
    for h in range(HOSTS):
        argv += ["--resolve", f"h{h}.test:80:127.0.0.1:{web.port}"]
    limit = f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile}))" if nofile else ""
    code = "\n".join(
        ["import resource, sys", limit, "from openwit.cli import app", "sys.argv[0] = 'openwit'"]
        + ["app()"]
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    t = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("[0-9]*.parquet"))])
    got = dict(zip(t.column("url").to_pylist(), t.column("status").to_pylist(), strict=True))
    assert not any("open files" in (m or "") for m in t.column("error_message").to_pylist())
    return got


def test_more_hosts_than_open_files_loses_nothing(tmp_path):
    with serve() as web:
        urls = [u for h in range(HOSTS) for u in _site(web, h)]
        high = _crawl(tmp_path, web, urls, "high", None)
        low = _crawl(tmp_path, web, urls, "low", 256)
    assert len(high) == len(urls) == HOSTS * PER_HOST > 256
    assert low == high
    want = {}
    for h in range(HOSTS):
        for k in range(PER_HOST):
            path = f"/img/{k}.png" if k % 2 else f"/img/{k}.png?v=1"
            blocked = h % 10 == 0 and k % 2 == 1
            noai = h % 11 == 0 and k == 2
            want[f"http://h{h}.test{path}"] = (
                "robots_disallowed" if blocked else "noai_header" if noai else "success"
            )
    assert high == want
