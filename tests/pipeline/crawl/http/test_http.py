"""HTTP as the real web speaks it, against a loopback web of the tests' own."""

import gzip
import os
import socket
import ssl
import threading
import time
import zlib
from email.utils import formatdate

import brotli
import pytest
from backports import zstd

from openwit.pipeline.crawl.http.fetch import FetchConfig, Fetcher, retry_after
from openwit.pipeline.crawl.http.optout import TdmCache, TdmRep, robots_directives
from openwit.pipeline.crawl.http.robots import RobotsCache

from .web import drip, response, serve

AGENT = "OpenWIT/0.1"
BODY = bytes(range(256)) * 64  # 16 KiB that no decoder mistakes for text


def fetcher(web, *hosts, tdm=False, **kw) -> Fetcher:
    cfg = FetchConfig(
        user_agent=AGENT,
        resolve=web.resolve(*hosts),
        allow=web.allow,
        resolve_only=True,
        timeout=kw.pop("timeout", 2.0),
        backoff=0.01,
        max_retries=kw.pop("max_retries", 0),
        **kw,
    )
    f = Fetcher(cfg)
    f.robots = RobotsCache(AGENT, fetcher=f)
    if tdm:
        f.tdm = TdmCache(fetcher=f)
    return f


@pytest.mark.parametrize(
    "value, status",
    [
        ("noai", "noai_header"),
        ("NoImageAI", "noai_header"),
        ("none", "noai_header"),
        ("noindex", "noai_header"),
        ("noimageindex", "noai_header"),
        ("nofollow, noarchive", "success"),
        ("otherbot: noindex", "success"),  # scoped to another agent
        ("openwit: noai", "noai_header"),
        ("otherbot: nofollow, openwit: noimageai", "noai_header"),
        ("unavailable_after: 25 Jun 2010 15:00:00 PST", "success"),
    ],
)
def test_x_robots_tag_on_images(value, status):
    with serve() as web:
        web.route("img.test", "/a.png", response(200, BODY, {"X-Robots-Tag": value}))
        assert fetcher(web, "img.test").get("http://img.test/a.png").status == status


def test_x_robots_tag_in_several_headers():
    assert robots_directives(["otherbot: noindex", "noai"], "openwit") == {"noai"}
    assert robots_directives(["openwit: none"], "openwit") == {"none"}


def test_tdm_reservation_header_and_tdmrep_json():
    rules = (
        b'[{"location": "/free/*", "tdm-reservation": 0}, {"location": "/*", "tdm-reservation": 1}]'
    )
    with serve() as web:
        web.route("tdm.test", "/.well-known/tdmrep.json", response(200, rules))
        web.route("tdm.test", "/free/a.png", response(200, BODY))
        web.route("tdm.test", "/paid/a.png", response(200, BODY))
        web.route("hdr.test", "/a.png", response(200, BODY, {"tdm-reservation": "1"}))
        web.route("hdr.test", "/b.png", response(200, BODY, {"tdm-reservation": "0"}))
        f = fetcher(web, "tdm.test", "hdr.test", tdm=True)
        assert f.get("http://tdm.test/free/a.png").status == "success"
        assert f.get("http://tdm.test/paid/a.png").status == "tdmrep_reserved"
        assert web.asked("tdm.test", "/paid/a.png") == 0
        assert f.get("http://hdr.test/a.png").status == "tdm_reserved"
        assert f.get("http://hdr.test/b.png").status == "success"


def test_tdmrep_patterns():
    rep = TdmRep('[{"location": "/img/*.jpg$", "tdm-reservation": 1}]')
    assert rep.reserved("http://x.test/img/a/b.jpg")
    assert not rep.reserved("http://x.test/img/a.jpg?x=1")
    assert not TdmRep("not json").reserved("http://x.test/")


@pytest.mark.parametrize("where", ["headers", "body"])
def test_one_deadline_covers_a_response_that_drips(where):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\nX-Pad: " + b"p" * 40 + b"\r\n\r\n"
    with serve() as web:
        if where == "headers":
            web.route("drip.test", "/a.png", drip(head, 0.1))  # 60+ bytes, 0.1 s apiece
        else:
            web.route("drip.test", "/a.png", [(head, 0.0)] + drip(b"x" * 200, 0.1))
        t0 = time.monotonic()
        resp = fetcher(web, "drip.test", timeout=1.0).get("http://drip.test/a.png")
        assert resp.status == "timeout"
        assert time.monotonic() - t0 < 2.0  # one second, not one per byte


def test_a_hanging_server_is_cut_at_the_deadline():
    with serve() as web:
        web.route("hang.test", "/a.png", [(b"", 30.0)])
        t0 = time.monotonic()
        assert (
            fetcher(web, "hang.test", timeout=0.5).get("http://hang.test/a.png").status == "timeout"
        )
        assert time.monotonic() - t0 < 1.5


def _deflate_raw(b):
    c = zlib.compressobj(wbits=-15)
    return c.compress(b) + c.flush()


@pytest.mark.parametrize(
    "coding, encode",
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as RFC 9110 says
        ("deflate", _deflate_raw),  # raw, as some servers send it
        ("br", brotli.compress),
        ("zstd", zstd.compress),
        ("gzip, br", lambda b: brotli.compress(gzip.compress(b))),
    ],
)
@pytest.mark.parametrize("chunked", [False, True])
def test_content_encodings_are_decoded_whatever_the_transfer_encoding(coding, encode, chunked):
    with serve() as web:
        web.route(
            "enc.test",
            "/a.png",
            response(200, encode(BODY), {"Content-Encoding": coding}, chunked=chunked),
        )
        f = fetcher(web, "enc.test")
        resp = f.get("http://enc.test/a.png")
        assert resp.status == "success" and resp.body == BODY
        assert "gzip" in web.log[-1].headers["accept-encoding"]


def test_the_byte_cap_applies_after_decompression_and_unknown_codings_are_named():
    bomb = gzip.compress(b"\0" * (50 * 2**20))  # 50 MiB in ~50 KiB
    with serve() as web:
        web.route(
            "enc.test", "/bomb.png", response(200, bomb, {"Content-Encoding": "gzip"}, chunked=True)
        )
        web.route("enc.test", "/old.png", response(200, BODY, {"Content-Encoding": "compress"}))
        web.route(
            "enc.test", "/bad.png", response(200, b"not gzip at all", {"Content-Encoding": "gzip"})
        )
        f = fetcher(web, "enc.test", max_bytes=2**20)
        assert f.get("http://enc.test/bomb.png").status == "too_large"
        assert f.get("http://enc.test/old.png").status == "unsupported_encoding"
        assert f.get("http://enc.test/bad.png").status == "content_encoding_error"


def test_retry_after_in_both_forms_and_capped():
    assert retry_after("3", 30) == 3
    assert retry_after("3600", 30) == 30
    assert 4 <= retry_after(formatdate(time.time() + 5, usegmt=True), 30) <= 5
    assert retry_after(formatdate(time.time() - 50, usegmt=True), 30) == 0
    assert retry_after("soon", 30) is None


def test_retry_after_http_date_is_honoured():
    served = []

    def flaky(req):
        served.append(time.monotonic())
        if len(served) == 1:
            return response(
                503, headers={"Retry-After": formatdate(time.time() + 1.5, usegmt=True)}
            )
        return response(200, BODY)

    with serve() as web:
        web.route("busy.test", "/a.png", flaky)
        assert (
            fetcher(web, "busy.test", max_retries=1).get("http://busy.test/a.png").status
            == "success"
        )
        assert served[1] - served[0] >= 0.5  # the date has one-second resolution


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _client_sockets(port: int) -> int:
    """Sockets this process holds open to 127.0.0.1:port (the server's own ends left out)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    with open("/proc/self/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if int(cols[2].split(":")[1], 16) == port and cols[9] in inodes:
                n += 1
    return n


def test_connections_stay_bounded_whatever_the_number_of_origins():
    hosts = [f"h{i}.test" for i in range(300)]
    with serve() as web:
        for h in hosts:
            web.route(h, "/a.png", response(200, BODY))
        f = fetcher(web, *hosts, max_idle=16)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as ex:
            statuses = list(ex.map(lambda h: f.get(f"http://{h}/a.png").status, hosts))
        assert statuses == ["success"] * len(hosts)
        assert f.conns.idle() <= 16 and _client_sockets(web.port) <= 16
        f.close()
        assert f.conns.idle() == 0 and _client_sockets(web.port) == 0


def test_keep_alive_reuses_one_connection_per_origin():
    with serve() as web:
        for i in range(5):
            web.route("ka.test", f"/{i}.png", response(200, BODY))
        f = fetcher(web, "ka.test")
        for i in range(5):
            assert f.get(f"http://ka.test/{i}.png").status == "success"
        assert f.conns.idle() == 1


def test_a_resource_failure_is_never_a_site_status():
    import resource

    from openwit.pipeline.crawl.http.conn import ResourceExhausted

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with serve() as web:
        web.route("x.test", "/robots.txt", response(404))
        f = fetcher(web, "x.test")
        hold = []
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (_open_fds() + 40, hard))
            with pytest.raises(OSError):
                while len(hold) < 1000:  # take every free descriptor
                    hold.append(socket.socket())
            with pytest.raises(ResourceExhausted):  # then ask the network for one more
                f.get("http://x.test/a.png")
        finally:
            for s in hold:
                s.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_ca_bundle_is_the_trust_store(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("secure.test")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def serve_tls():
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(raw, server_side=True) as s:
                    s.recv(65536)
                    s.sendall(response(200, BODY, {"Connection": "close"})[0][0])
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=serve_tls, daemon=True).start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    base = dict(
        resolve={"secure.test:443": f"127.0.0.1:{port}"},
        allow=(f"127.0.0.1:{port}",),
        resolve_only=True,
        timeout=3.0,
        max_retries=0,
        respect_robots=False,
    )
    try:
        assert Fetcher(FetchConfig(**base)).get("https://secure.test/a.png").status == "tls_error"
        ok = Fetcher(FetchConfig(ca_bundle=str(bundle), **base)).get("https://secure.test/a.png")
        assert ok.status == "success" and ok.body == BODY
    finally:
        listener.close()


def test_tdmrep_json_is_not_asked_where_robots_txt_says_no():
    with serve() as web:
        web.route(
            "tdm.test", "/robots.txt", response(200, b"User-agent: *\nDisallow: /.well-known/\n")
        )
        web.route(
            "tdm.test",
            "/.well-known/tdmrep.json",
            response(200, b'[{"location": "/*", "tdm-reservation": 1}]'),
        )
        web.route("tdm.test", "/a.png", response(200, BODY))
        f = fetcher(web, "tdm.test", tdm=True)
        assert f.get("http://tdm.test/a.png").status == "success"
        assert web.asked("tdm.test", "/.well-known/tdmrep.json") == 0


def test_a_busy_answer_slows_the_host_only_for_a_while():
    def busy_once():
        answers = iter([response(429, headers={"Retry-After": "0"})])
        return lambda req: next(answers, None) or response(200, BODY)

    with serve() as web:
        for i in range(16):
            web.route("busy.test", f"/{i}.png", busy_once() if i < 4 else response(200, BODY))
        f = fetcher(web, "busy.test", max_retries=1, host_rps=20.0)
        t0 = time.monotonic()
        assert {f.get(f"http://busy.test/{i}.png").status for i in range(16)} == {"success"}
        # 20 requests at 20/s take 1 s; four 429s leave the interval at 0.8 s unless the
        # answers after them bring it back (12 more requests would take 10 s).
        assert time.monotonic() - t0 < 3.0
