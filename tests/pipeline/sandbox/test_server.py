"""Fetch through the running sandbox server and see each planted fault behave as recorded."""

import http.client
import io
import socket
import struct
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
from PIL import Image

from openwit.pipeline.sandbox.server import SandboxServer, read_log


def fetch(info, url, timeout=5.0):
    """One request, no redirects followed, routed through the sandbox's resolve map."""
    u = urlsplit(url)
    target = info["resolve"][f"{u.hostname}:{u.port or 80}"]
    host, port = target.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(
            "GET", u.path + (f"?{u.query}" if u.query else ""), headers={"Host": u.hostname}
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def images(sandbox_dir):
    rows = pq.read_table(sandbox_dir / "truth" / "images.parquet").to_pylist()
    by_fault = {}
    for r in rows:
        if not r["robots_disallowed"]:
            by_fault.setdefault(r["fault"], []).append(r)
    return by_fault


def decode(body):
    with Image.open(io.BytesIO(body)) as im:
        im.load()
        return im.size, im.format


def test_healthy_images_decode_at_recorded_size_and_format(sandbox_server, images):
    for r in images["none"][:40]:
        status, headers, body = fetch(sandbox_server, r["url"])
        assert status == 200 and headers["content-type"].startswith("image/")
        size, fmt = decode(body)
        assert size == (r["width"], r["height"])
        assert fmt == {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[r["fmt"]]


def test_exact_duplicates_serve_identical_bytes(sandbox_server, sandbox_dir):
    cands = pq.read_table(sandbox_dir / "truth" / "candidates.parquet").to_pylist()
    dups = [
        c
        for c in cands
        if c["group"] == "exact_dup" and c["fault"] == "none" and not c["robots_disallowed"]
    ][:5]
    assert dups
    for c in dups:
        assert fetch(sandbox_server, c["url"])[2] == fetch(sandbox_server, c["dup_of"])[2]


@pytest.mark.parametrize("fault", ["http_404", "http_500"])
def test_http_errors(sandbox_server, images, fault):
    assert fetch(sandbox_server, images[fault][0]["url"])[0] == int(fault[-3:])


@pytest.mark.parametrize("fault", ["truncated", "corrupt"])
def test_broken_bytes_do_not_decode(sandbox_server, images, fault):
    status, headers, body = fetch(sandbox_server, images[fault][0]["url"])
    assert status == 200 and headers["content-type"].startswith("image/")
    with pytest.raises(OSError):
        decode(body)


def test_not_an_image(sandbox_server, images):
    status, headers, _ = fetch(sandbox_server, images["not_image"][0]["url"])
    assert status == 200 and headers["content-type"].startswith("text/html")


def test_decompression_bomb_declares_huge_pixels_in_small_file(sandbox_server, images):
    _, _, body = fetch(sandbox_server, images["bomb"][0]["url"])
    assert len(body) < 100_000 and body.startswith(b"\x89PNG")
    width, height = struct.unpack(">II", body[16:24])  # the IHDR alone: never decode it
    assert width * height > 10**9
    with pytest.raises(Image.DecompressionBombError):  # Pillow's own guard agrees
        Image.open(io.BytesIO(body))


@pytest.mark.parametrize("fault", ["noai", "noimageai"])
def test_noai_headers(sandbox_server, images, fault):
    status, headers, body = fetch(sandbox_server, images[fault][0]["url"])
    assert status == 200 and headers["x-robots-tag"] == fault
    decode(body)


def test_slow_response_outlasts_a_short_timeout(sandbox_server, images):
    with pytest.raises(TimeoutError):
        fetch(sandbox_server, images["slow"][0]["url"], timeout=0.3)


def test_connection_reset(sandbox_server, images):
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        fetch(sandbox_server, images["reset"][0]["url"])


@pytest.mark.parametrize("fault", ["retry_429", "retry_503"])
def test_rate_limit_then_success(sandbox_dir, images, fault, tmp_path):
    url = images[fault][0]["url"]
    # A server of its own: the session's may have spent this URL's one refusal in another test.
    with SandboxServer(sandbox_dir, log_path=tmp_path / "log.jsonl") as info:
        status, headers, _ = fetch(info, url)
        assert status == int(fault[-3:]) and headers["retry-after"] == "1"
        status, _, body = fetch(info, url)
    assert status == 200
    decode(body)


def test_redirect_chain_ends_in_the_image(sandbox_server, images):
    url, hops = images["redirect_chain"][0]["url"], 0
    while True:
        status, headers, body = fetch(sandbox_server, url)
        if status not in (301, 302, 307):
            break
        url, hops = headers["location"], hops + 1
    assert status == 200 and hops == 3
    decode(body)


def test_redirect_loop_never_ends(sandbox_server, images):
    url, seen = images["redirect_loop"][0]["url"], []
    host = urlsplit(url).hostname
    for _ in range(6):
        status, headers, _ = fetch(sandbox_server, url)
        assert status == 302
        url = f"http://{host}{headers['location']}"
        seen.append(url)
    assert len(set(seen)) == 2


def test_ssrf_redirect_points_at_a_loopback_address_outside_the_allow_list(sandbox_server, images):
    status, headers, _ = fetch(sandbox_server, images["redirect_ssrf"][0]["url"])
    target = urlsplit(headers["location"])
    assert status == 302 and target.hostname == "127.0.0.2"
    assert f"{target.hostname}:{target.port}" not in sandbox_server["allow"]


def test_robots_rules(sandbox_server, sandbox_dir):
    hosts = pq.read_table(sandbox_dir / "truth" / "hosts.parquet").to_pylist()
    rule = {h["robots"]: h["host"] for h in hosts}
    assert b"Disallow: /\n" in fetch(sandbox_server, f"http://{rule['disallow_all']}/robots.txt")[2]
    assert (
        b"User-agent: OpenWIT"
        in fetch(sandbox_server, f"http://{rule['disallow_openwit']}/robots.txt")[2]
    )
    assert (
        b"Disallow: /private/"
        in fetch(sandbox_server, f"http://{rule['disallow_private']}/robots.txt")[2]
    )
    assert fetch(sandbox_server, f"http://{rule['missing']}/robots.txt")[0] == 404


def test_srcset_thumbnails_and_picture_sources(sandbox_server, images):
    r = next(r for r in images["none"] if r["path"].startswith("/images/"))
    stem, ext = r["url"].rsplit(".", 1)
    size, _ = decode(fetch(sandbox_server, f"{stem}-320w.{ext}")[2])
    assert size[0] <= 320  # a "320w" srcset candidate is 320 pixels wide
    assert decode(fetch(sandbox_server, f"{stem}.webp")[2])[1] == "WEBP"


def test_trap_listener_logs_what_a_guard_should_have_stopped(sandbox_server):
    if not sandbox_server["trap"]:
        pytest.skip("127.0.0.2 cannot be bound on this machine")
    host, port = sandbox_server["trap"].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"GET /images/x.jpg HTTP/1.1\r\nHost: 127.0.0.2\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 403")
    log = read_log(sandbox_server["log"])
    assert any(e["listener"] == "trap" for e in log)
    assert any(e["listener"] == "main" and e["path"] == "/robots.txt" for e in log)
    errors = [e["error"] for e in log if e["listener"] == "error"]
    assert not errors, errors[0]  # the server itself never failed
