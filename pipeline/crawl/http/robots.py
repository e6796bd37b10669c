"""robots.txt per origin, fetched once and cached, read as RFC 9309 says.

The rules are Protego's (Scrapy's RFC 9309 parser): the groups naming our product token are
merged (else the `*` groups), the longest matching path wins and Allow wins a tie, `*` and
`$` are patterns, paths compare percent-decoded. What the RFC leaves to the crawler:

- the first 512 KiB (the RFC's 500 KiB minimum) are parsed, the rest ignored;
- 2xx: the rules; 4xx ("unavailable"): no rules, everything allowed; 5xx, 429 (as Google
  reads it: the site is overloaded), a network failure or a blocked address ("unreachable"):
  everything disallowed; up to five redirects are followed, as for any fetch;
- the cache key is the origin, scheme + host + port, never the userinfo;
- `Crawl-delay` is honoured as a lower bound on the interval between requests to the host.

The crawl job fetches every origin's file once up front and hands the bodies to all download
tasks; an origin first met through a redirect is fetched by the task itself.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

from protego import Protego

from openwit.core.vocab import SUCCESS

DISALLOW_ALL = "User-agent: *\nDisallow: /\n"
PARSE_LIMIT = 512 * 1024
UNREACHABLE_4XX = {429}  # an overloaded site says so with 429: treated like 5xx


def origin(url: str) -> str:
    """scheme://host[:port], the port only when not the scheme's default; no userinfo."""
    p = urlsplit(url)
    host = (p.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = p.port
    default = {"http": 80, "https": 443}.get(p.scheme)
    return f"{p.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def robots_body(http_status: int | None, status: str, body: bytes | None) -> str:
    """The rules to apply, as text, for what fetching /robots.txt gave."""
    if status == SUCCESS:
        return (body or b"")[:PARSE_LIMIT].decode("utf-8-sig", errors="replace")
    if http_status is not None and 400 <= http_status < 500 and http_status not in UNREACHABLE_4XX:
        return ""
    return DISALLOW_ALL


def fetch_robots(fetcher, origin_url: str) -> dict:
    """{"origin", "status", "body"}: the rules to apply, as text."""
    resp = fetcher.get(f"{origin_url}/robots.txt", check_robots=False)
    return {
        "origin": origin_url,
        "status": resp.status,
        "body": robots_body(resp.http_status, resp.status, resp.body),
    }


class PerOrigin:
    """A file per origin, parsed once: given up front (`known`) or fetched on first use."""

    def __init__(self, parse, fetch, known: dict[str, str] | None = None):
        self.parse, self.fetch = parse, fetch
        self._parsed = {o: parse(body) for o, body in (known or {}).items()}
        self._lock = threading.Lock()
        self._fetch_locks: dict[str, threading.Lock] = {}

    def get(self, url: str):
        o = origin(url)
        got = self._parsed.get(o)
        if got is None:
            with self._lock:
                lock = self._fetch_locks.setdefault(o, threading.Lock())
            with lock:  # one fetch per origin, however many threads ask at once
                got = self._parsed.get(o)
                if got is None:
                    got = self._parsed[o] = self.parse(self.fetch(o))
        return got


class RobotsCache:
    def __init__(self, user_agent: str, known: dict[str, str] | None = None, fetcher=None):
        self.agent = user_agent.split("/")[0].split()[0]  # the product token
        self._files = PerOrigin(Protego.parse, lambda o: fetch_robots(fetcher, o)["body"], known)

    def allowed(self, url: str) -> bool:
        p = urlsplit(url)
        # Rules match the path and query only; the userinfo and fragment never reach them.
        target = (p.path or "/") + (f"?{p.query}" if p.query else "")
        return self._files.get(url).can_fetch(target, self.agent)

    def crawl_delay(self, url: str) -> float:
        """Seconds the site asks between requests (0 when it asks nothing)."""
        return float(self._files.get(url).crawl_delay(self.agent) or 0.0)
