"""A polite, safe HTTP client for image downloads.

Per URL: robots.txt (per origin, fetched once), the address guard on every hop, a per-host
concurrency and request-rate limit, bounded retries with exponential backoff and jitter
for transient failures, `Retry-After` honoured on 429/503 (and the host slowed down), a cap
on redirects with loop detection, a cap on bytes and an overall deadline. Every outcome is
one named status, never an exception.
"""

from __future__ import annotations

import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import RemoteDisconnected
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from openwit.core.vocab import SUCCESS
from openwit.pipeline.crawl.http.guard import Blocked, Resolver, Unresolvable

USER_AGENT = "OpenWIT/0.1 (+https://github.com/openwit/openwit; image-text research crawler)"
NOAI_TAGS = ("noai", "noimageai", "noindex", "noimageindex")  # img2dataset's default list
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


@dataclass(frozen=True)
class FetchConfig:
    user_agent: str = USER_AGENT
    timeout: float = 10.0  # seconds for the whole response, connect to last byte
    max_bytes: int = 20 * 2**20
    max_redirects: int = 5
    max_retries: int = 2  # extra attempts after a transient failure
    backoff: float = 0.5  # first wait; doubles each retry, with jitter
    max_wait: float = 30.0  # cap on backoff and on Retry-After
    host_concurrency: int = 4
    host_rps: float = 20.0
    respect_robots: bool = True
    noai_tags: tuple[str, ...] = NOAI_TAGS
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
    """One host's slots and pace: `host_concurrency` at once, one start per interval."""

    def __init__(self, concurrency: int, rps: float):
        self.sem = threading.BoundedSemaphore(concurrency)
        self.interval = 1.0 / rps
        self.next_at = 0.0
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
            self.interval = min(self.interval * 2, 10.0)


class Fetcher:
    def __init__(self, cfg: FetchConfig, robots=None, rng: random.Random | None = None):
        self.cfg = cfg
        self.resolver = Resolver(dict(cfg.resolve), frozenset(cfg.allow), cfg.resolve_only)
        self.robots = robots
        self.rng = rng or random.Random(0)
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()

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
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:  # the guard first: not even robots.txt is asked of a forbidden address
                ip, cport = self.resolver.address(parts.hostname, port)
            except Blocked as e:
                return Response("blocked_address", url, error=str(e), redirects=hops)
            except Unresolvable as e:
                return Response("dns_error", url, error=str(e), redirects=hops)
            if (
                check_robots
                and self.cfg.respect_robots
                and self.robots
                and not self.robots.allowed(url)
            ):
                return Response("robots_disallowed", url, redirects=hops)
            resp = self._with_retries(url, parts, ip, cport)
            resp.redirects = hops
            location = resp.headers.get("location")
            if resp.http_status in (301, 302, 303, 307, 308) and location:
                hops += 1
                if hops > self.cfg.max_redirects:
                    return Response("too_many_redirects", url, redirects=hops)
                url = urljoin(url, location)
                continue
            return resp

    def _gate(self, host: str) -> _Gate:
        with self._lock:
            if host not in self._gates:
                self._gates[host] = _Gate(self.cfg.host_concurrency, self.cfg.host_rps)
            return self._gates[host]

    def _with_retries(self, url: str, parts, ip: str, port: int) -> Response:
        gate = self._gate(parts.hostname)
        for attempt in range(self.cfg.max_retries + 1):
            with gate.slot():
                resp = self._once(url, parts, ip, port)
            if resp.status not in TRANSIENT or attempt == self.cfg.max_retries:
                return resp
            wait = min(self.cfg.max_wait, self.cfg.backoff * 2**attempt) * (0.5 + self.rng.random())
            retry_after = resp.headers.get("retry-after", "")
            if resp.status in ("http_429", "http_503"):
                if retry_after.strip().isdigit():
                    wait = min(self.cfg.max_wait, float(retry_after))
                gate.slow_down(wait)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _pool(self, scheme: str, ip: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, ip, port, host)
        with self._lock:
            if key not in self._pools:
                kw = {"maxsize": self.cfg.host_concurrency, "block": False, "retries": False}
                if scheme == "https":
                    # Connect to the checked IP, but verify the certificate for the name.
                    pool = urllib3.HTTPSConnectionPool(
                        ip, port, server_hostname=host, assert_hostname=host, **kw
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(ip, port, **kw)
                self._pools[key] = pool
            return self._pools[key]

    def _once(self, url: str, parts, ip: str, port: int) -> Response:
        cfg = self.cfg
        deadline = time.monotonic() + cfg.timeout
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        try:
            r = self._pool(parts.scheme, ip, port, parts.hostname).urlopen(
                "GET",
                path,
                headers={
                    "Host": host_header,
                    "User-Agent": cfg.user_agent,
                    "Accept": "image/*,*/*;q=0.5",
                },
                redirect=False,
                preload_content=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(connect=cfg.timeout, read=cfg.timeout),
            )
        except (ConnectTimeoutError, ReadTimeoutError, TimeoutError):
            return Response("timeout", url)
        except SSLError as e:
            return Response("tls_error", url, error=str(e)[:200])
        except NewConnectionError as e:
            return Response("connection_error", url, error=str(e)[:200])
        except ProtocolError as e:
            reset = isinstance(
                e.__context__ or e.args[-1], ConnectionResetError | RemoteDisconnected
            )
            return Response(
                "connection_reset" if reset else "connection_error", url, error=str(e)[:200]
            )
        except HTTPError as e:
            return Response("connection_error", url, error=str(e)[:200])
        headers = {k.lower(): v for k, v in r.headers.items()}
        status = r.status
        try:
            if status != 200:
                r.drain_conn()
                return Response(f"http_{status}", url, status, headers)
            tags = {
                t.strip()
                for v in r.headers.getlist("x-robots-tag")
                for t in v.lower().replace(":", ",").split(",")
            }
            if tags & set(cfg.noai_tags):
                r.drain_conn()
                return Response("noai_header", url, status, headers)
            if int(headers.get("content-length") or 0) > cfg.max_bytes:
                return Response("too_large", url, status, headers, error="content-length")
            chunks, size = [], 0
            for chunk in r.stream(65536):
                size += len(chunk)
                if size > cfg.max_bytes:
                    return Response("too_large", url, status, headers, error="body")
                if time.monotonic() > deadline:
                    return Response("timeout", url, status, headers)
                chunks.append(chunk)
            return Response(SUCCESS, url, status, headers, b"".join(chunks))
        except (ReadTimeoutError, TimeoutError):
            return Response("timeout", url, status, headers)
        except (ProtocolError, HTTPError) as e:
            return Response("connection_reset", url, status, headers, error=str(e)[:200])
        finally:
            r.release_conn()
