"""A polite, safe HTTP client for image downloads.

Per URL: the address guard on every hop, robots.txt and the origin's TDM reservations (per
origin, fetched once), a per-origin concurrency and request-rate limit (never faster than
the site's Crawl-delay), bounded retries with exponential backoff and jitter for transient
failures, `Retry-After` honoured on 429/503 in both of RFC 9110's forms (capped), a cap on
redirects with loop detection, one deadline per response (connect, headers and body), the
`Content-Encoding`s browsers accept decoded whatever the transfer encoding, with the byte cap
applied to the decoded bytes, and the image's own opt-outs (X-Robots-Tag, tdm-reservation).
Every outcome is one named status, never an exception; the one exception is the machine's
own failure (`ResourceExhausted`), which must fail the task rather than pass for a site's
answer.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import ssl
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import ada_url
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.request import ACCEPT_ENCODING

from openwit.core.vocab import SUCCESS
from openwit.pipeline.crawl.http.conn import (
    Connections,
    Reaper,
    ResourceExhausted,
    reaper,
    resource_error,
)
from openwit.pipeline.crawl.http.guard import Blocked, Resolver, Unresolvable
from openwit.pipeline.crawl.http.optout import IMAGE_NO, says_no, tdm_reserved
from openwit.pipeline.crawl.http.robots import origin

USER_AGENT = "OpenWIT/0.1 (+https://github.com/openwit/openwit; image-text research crawler)"
TRANSIENT = {
    "timeout",
    "connection_reset",
    "connection_error",
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
}
# What this install decodes: gzip and deflate always, br and zstd when their packages are in.
ACCEPT_ENCODING = ", ".join(ACCEPT_ENCODING.split(","))
ENCODINGS = {"identity", "x-gzip", *(c.strip() for c in ACCEPT_ENCODING.split(","))}


@dataclass(frozen=True)
class FetchConfig:
    user_agent: str = USER_AGENT
    timeout: float = 10.0  # seconds for the whole response, connect to last byte
    max_bytes: int = 20 * 2**20  # decoded bytes
    max_redirects: int = 5
    max_retries: int = 2  # extra attempts after a transient failure
    backoff: float = 0.5  # first wait; doubles each retry, with jitter
    max_wait: float = 30.0  # cap on backoff and on Retry-After
    host_concurrency: int = 4
    host_rps: float = 20.0
    host_share: int = 1  # fetchers sharing each host: each gets 1/host_share of its rate
    max_crawl_delay: float = 60.0  # a site asking for more is not crawled (crawl_delay_too_long)
    # Once this many requests to one origin have timed out, for two URLs or more, with no
    # answer from it in between, it is not asked again: its URLs not yet asked end
    # `host_unresponsive`, those already timed out end `timeout` without their retries. A
    # hanging host must not hold the crawl's threads for (retries + 1) x timeout per URL
    # (one slow URL on a live host never trips it). 0: never.
    host_timeouts: int = 3
    respect_robots: bool = True
    respect_tdmrep: bool = True
    max_idle: int = 256  # idle keep-alive connections kept, all origins together
    ca_bundle: str | None = None  # PEM file of trusted CAs; None: the system's store
    resolve: dict[str, str] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    resolve_only: bool = False


@dataclass
class Response:
    status: str  # SUCCESS or the failure's name
    url: str  # the final URL, after redirects
    http_status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: str = ""
    redirects: int = 0


class _Gate:
    """One origin's slots and pace: `host_concurrency` at once, one start per interval. A
    429/503 doubles the interval (up to 10 s); each other answer halves it back toward the
    base, so a site that was busy once is not crawled slowly for the rest of the crawl."""

    def __init__(self, concurrency: int, interval: float):
        self.sem = threading.BoundedSemaphore(concurrency)
        self.base = self.interval = interval
        self.next_at = 0.0
        self.timed_out: dict[str, int] = {}  # timeouts per URL since the host last answered
        self.lock = threading.Lock()

    @contextmanager
    def slot(self):
        with self.sem:
            with self.lock:
                start = max(time.monotonic(), self.next_at)
                self.next_at = start + self.interval
            time.sleep(max(0.0, start - time.monotonic()))
            yield

    def slow_down(self, wait: float) -> None:
        with self.lock:
            self.next_at = max(self.next_at, time.monotonic() + wait)
            self.interval = min(self.interval * 2, max(self.base, 10.0))

    def recover(self) -> None:
        with self.lock:
            self.interval = max(self.base, self.interval / 2)


def retry_after(value: str | None, cap: float) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date, capped."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(cap, float(value))
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(cap, max(0.0, when - time.time()))


class Fetcher:
    def __init__(self, cfg: FetchConfig, robots=None, rng: random.Random | None = None, tdm=None):
        self.cfg = cfg
        self.resolver = Resolver(dict(cfg.resolve), frozenset(cfg.allow), cfg.resolve_only)
        self.robots = robots
        self.tdm = tdm
        self.rng = rng or random.Random(0)
        self.conns = Connections(cfg.max_idle, cfg.host_concurrency, cfg.ca_bundle)
        self.reaper = reaper()
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()
        self.agent = cfg.user_agent.split("/")[0].split()[0]

    def close(self) -> None:
        self.conns.close()

    def get(self, url: str, check_robots: bool = True) -> Response:
        seen: set[str] = set()
        hops = 0
        while True:
            if url in seen:
                return Response("redirect_loop", url, redirects=hops)
            seen.add(url)
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return Response("bad_url", url, redirects=hops)
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                return Response("bad_url", url, redirects=hops)
            try:  # the guard first: not even robots.txt is asked of a forbidden address
                ip, cport = self.resolver.address(parts.hostname, port)
            except Blocked as e:
                return Response("blocked_address", url, error=str(e), redirects=hops)
            except Unresolvable as e:
                return Response("dns_error", url, error=str(e), redirects=hops)
            delay = 0.0
            if check_robots and self.cfg.respect_robots and self.robots:
                if not self.robots.allowed(url):
                    return Response("robots_disallowed", url, redirects=hops)
                delay = self.robots.crawl_delay(url)
                if delay > self.cfg.max_crawl_delay:
                    return Response(
                        "crawl_delay_too_long", url, error=f"Crawl-delay: {delay:g}", redirects=hops
                    )
            if check_robots and self.cfg.respect_tdmrep and self.tdm and self.tdm.reserved(url):
                return Response("tdmrep_reserved", url, redirects=hops)
            resp = self._with_retries(url, parts, ip, cport, delay)
            resp.redirects = hops
            location = resp.headers.get("location")
            if resp.http_status in (301, 302, 303, 307, 308) and location:
                hops += 1
                if hops > self.cfg.max_redirects:
                    return Response("too_many_redirects", url, redirects=hops)
                try:
                    url = ada_url.join_url(url, location.strip())
                except ValueError:
                    return Response("bad_url", location[:200], redirects=hops)
                continue
            return resp

    def _gate(self, url: str, delay: float) -> _Gate:
        o = origin(url)
        share = max(1, self.cfg.host_share)
        with self._lock:
            gate = self._gates.get(o)
            if gate is None:
                gate = self._gates[o] = _Gate(self.cfg.host_concurrency, share / self.cfg.host_rps)
        if delay:  # known once robots.txt is read, which itself went through this gate
            with gate.lock:
                gate.base = max(gate.base, delay * share)
                gate.interval = max(gate.interval, gate.base)
        return gate

    def _unresponsive(self, gate: _Gate, url: str) -> Response | None:
        limit = self.cfg.host_timeouts
        with gate.lock:
            n = sum(gate.timed_out.values())
            if not limit or n < limit or len(gate.timed_out) < 2:
                return None
            asked = url in gate.timed_out
        why = f"{n} requests to this host timed out with no answer between; not asked again"
        return Response("timeout" if asked else "host_unresponsive", url, error=why)

    @staticmethod
    def _note(gate: _Gate, url: str, status: str) -> None:
        with gate.lock:
            if status == "timeout":
                gate.timed_out[url] = gate.timed_out.get(url, 0) + 1
            else:  # the host answered: whatever timed out before was the URL's, not the host's
                gate.timed_out.clear()

    def _with_retries(self, url: str, parts, ip: str, port: int, delay: float) -> Response:
        gate = self._gate(url, delay)
        for attempt in range(self.cfg.max_retries + 1):
            skipped = self._unresponsive(gate, url)
            if skipped is not None:
                return skipped
            with gate.slot():  # asked again: the wait for a slot may have been long
                skipped = self._unresponsive(gate, url)
                resp = skipped or self._once(url, parts, ip, port)
            if skipped is not None:
                return skipped
            self._note(gate, url, resp.status)
            if resp.status not in ("http_429", "http_503") and gate.interval > gate.base:
                gate.recover()
            if resp.status not in TRANSIENT or attempt == self.cfg.max_retries:
                return resp
            wait = min(self.cfg.max_wait, self.cfg.backoff * 2**attempt) * (0.5 + self.rng.random())
            if resp.status in ("http_429", "http_503"):
                asked = retry_after(resp.headers.get("retry-after"), self.cfg.max_wait)
                if asked is not None:
                    wait = asked
                gate.slow_down(wait)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _once(self, url: str, parts, ip: str, port: int) -> Response:
        cfg = self.cfg
        key = (parts.scheme, ip, port, parts.hostname)
        conn = self.conns.take(key, cfg.timeout)
        watch = self.reaper.watch(time.monotonic() + cfg.timeout)
        conn.watch = watch
        if conn.sock is not None:
            watch.attach(conn.sock)
        reusable = False
        try:
            resp, reusable = self._exchange(conn, url, parts)
            return resp
        except Exception as e:  # noqa: BLE001 - every network failure becomes a status
            if resource_error(e) is not None:
                raise ResourceExhausted(f"{url}: {resource_error(e)}") from e
            if watch.fired:
                return Response("timeout", url, error="deadline")
            return Response(_failure(e), url, error=f"{type(e).__name__}: {e}"[:200])
        finally:
            Reaper.done(watch)
            if reusable and not watch.fired:
                self.conns.give(key, conn)
            else:
                conn.close()

    def _exchange(self, conn, url: str, parts) -> tuple[Response, bool]:
        cfg = self.cfg
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(
            "GET",
            path,
            headers={
                "Host": parts.netloc.rsplit("@", 1)[-1],
                "User-Agent": cfg.user_agent,
                "Accept": "image/avif,image/webp,image/*,*/*;q=0.5",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            preload_content=False,
            decode_content=True,
        )
        r = conn.getresponse()
        headers = {k.lower(): v for k, v in r.headers.items()}
        status = r.status
        if status != 200:
            if status in (301, 302, 303, 307, 308, 404, 410) or status >= 500 or status == 429:
                _drain(r, 65536)  # small bodies: keep the connection
            return Response(f"http_{status}", url, status, headers), r.isclosed()
        no = says_no(r.headers.getlist("x-robots-tag"), self.agent, IMAGE_NO)
        if no:
            return Response("noai_header", url, status, headers, error=f"X-Robots-Tag: {no}"), False
        if tdm_reserved(headers.get("tdm-reservation")):
            return Response("tdm_reserved", url, status, headers), False
        codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",")]
        unknown = [c for c in codings if c and c not in ENCODINGS]
        if unknown:
            return Response("unsupported_encoding", url, status, headers, error=unknown[0]), False
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > cfg.max_bytes:
            return Response("too_large", url, status, headers, error="content-length"), False
        chunks, size = [], 0
        try:
            for chunk in r.stream(65536, decode_content=True):
                size += len(chunk)
                if size > cfg.max_bytes:
                    return Response("too_large", url, status, headers, error="body"), False
                chunks.append(chunk)
        except DecodeError as e:
            bad = Response("content_encoding_error", url, status, headers, error=str(e)[:200])
            return bad, False
        return Response(SUCCESS, url, status, headers, b"".join(chunks)), r.isclosed()


def _drain(r, limit: int) -> None:
    # Only to keep the connection for the next request; a failure just closes it.
    with contextlib.suppress(Exception):
        r.read(limit, decode_content=False)


def _failure(e: BaseException) -> str:
    if isinstance(e, ConnectTimeoutError | ReadTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(e, SSLError | ssl.SSLError | ssl.CertificateError):
        return "tls_error"
    if isinstance(e, NewConnectionError | ConnectionRefusedError):
        return "connection_error"
    if isinstance(
        e,
        ConnectionResetError
        | BrokenPipeError
        | http.client.RemoteDisconnected
        | http.client.IncompleteRead
        | ProtocolError,
    ):
        return "connection_reset"
    if isinstance(e, http.client.HTTPException | HTTPError):
        return "bad_response"
    return "connection_error"
