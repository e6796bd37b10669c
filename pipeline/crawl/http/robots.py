"""robots.txt per origin, fetched once and cached (RFC 9309).

2xx: parse it. 4xx: no rules, everything allowed. 5xx, a network failure or a blocked
address: treated as a complete disallow, as the RFC asks when the file is unreachable.
The crawl job fetches every origin's file once up front and hands the bodies to all
download tasks; an origin first met through a redirect is fetched by the task itself.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from openwit.core.vocab import SUCCESS

DISALLOW_ALL = "User-agent: *\nDisallow: /\n"


def origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc.lower()}"


def fetch_robots(fetcher, origin_url: str) -> dict:
    """{"origin", "status", "body"}: the rules to apply, as text."""
    resp = fetcher.get(f"{origin_url}/robots.txt", check_robots=False)
    if resp.status == SUCCESS:
        body = (resp.body or b"")[:500_000].decode("utf-8", errors="replace")
    elif resp.http_status is not None and 400 <= resp.http_status < 500:
        body = ""
    else:
        body = DISALLOW_ALL
    return {"origin": origin_url, "status": resp.status, "body": body}


class RobotsCache:
    def __init__(self, user_agent: str, known: dict[str, str] | None = None, fetcher=None):
        self.agent = user_agent.split("/")[0]
        self.fetcher = fetcher
        self._parsers: dict[str, RobotFileParser] = {}
        self._lock = threading.Lock()
        self._fetch_locks: dict[str, threading.Lock] = {}
        for o, body in (known or {}).items():
            self._parsers[o] = self._parse(body)

    @staticmethod
    def _parse(body: str) -> RobotFileParser:
        rp = RobotFileParser()
        rp.parse(body.splitlines())
        return rp

    def allowed(self, url: str) -> bool:
        o = origin(url)
        rp = self._parsers.get(o)
        if rp is None:
            with self._lock:
                lock = self._fetch_locks.setdefault(o, threading.Lock())
            with lock:  # one fetch per origin, however many threads ask at once
                rp = self._parsers.get(o)
                if rp is None:
                    got = fetch_robots(self.fetcher, o)
                    rp = self._parsers[o] = self._parse(got["body"])
        return rp.can_fetch(self.agent, url)
