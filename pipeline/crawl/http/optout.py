"""Opt-outs below robots.txt: X-Robots-Tag, meta robots and the TDM reservation protocol.

- `X-Robots-Tag` (on an image or on its page) and `<meta name="robots">`: comma-separated
  directives, optionally scoped to one agent (`otherbot: noindex` binds only otherbot). On an
  image, noai, noimageai, none, noindex and noimageindex mean no (img2dataset's list plus
  `none`, which is noindex + nofollow). On a page, what speaks for its images: noai,
  noimageai, none and noimageindex (a page's own `noindex` is about the page in search results).
- TDMRep (W3C TDM Reservation Protocol): a `tdm-reservation: 1` header on the image or the
  page, `<meta name="tdm-reservation" content="1">`, or the origin's
  `/.well-known/tdmrep.json`: an array of rules, the first whose `location` (a path pattern,
  `*` and `$` as in robots.txt) matches the path applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from openwit.pipeline.crawl.http.robots import PARSE_LIMIT, PerOrigin

IMAGE_NO = frozenset({"noai", "noimageai", "none", "noindex", "noimageindex"})
PAGE_NO = frozenset({"noai", "noimageai", "none", "noimageindex"})
# Directives that take a value after a colon; any other `word:` scopes to an agent.
_VALUED = {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
TDMREP_PATH = "/.well-known/tdmrep.json"


def robots_directives(values: Iterable[str], agent: str) -> set[str]:
    """The directives in X-Robots-Tag / meta robots values that bind `agent` (lower-cased)."""
    agent = agent.lower()
    out: set[str] = set()
    for value in values:
        scope = None  # a value binds every agent until an `agent:` prefix scopes it
        for part in (value or "").split(","):
            part = part.strip().lower()
            if not part:
                continue
            head, colon, rest = part.partition(":")
            if colon and head.strip() not in _VALUED:
                scope, part = head.strip(), rest.strip()
            if scope in (None, "*", agent):
                out.add(part.split(":")[0].strip())
    return out


def says_no(values: Iterable[str], agent: str, no: frozenset[str]) -> str | None:
    """The first directive in `no` that binds the agent, or None."""
    hit = sorted(robots_directives(values, agent) & no)
    return hit[0] if hit else None


def tdm_reserved(value: str | None) -> bool:
    return (value or "").strip() == "1"


def page_optout(
    headers: dict[str, str], metas: Iterable[tuple[str, str]], agent: str
) -> str | None:
    """The name of a page's opt-out for its images, from its (lower-cased) response headers
    and its `<meta name content>` pairs, or None: X-Robots-Tag, then meta robots (or a meta
    named for our agent), then TDMRep's header or meta."""
    if says_no([headers.get("x-robots-tag", "")], agent, PAGE_NO):
        return "page_x_robots_tag"
    robots, tdm = [], False
    for name, content in metas:
        name = (name or "").strip().lower()
        if name == "robots":
            robots.append(content or "")
        elif name == agent:
            robots.append(f"{agent}: {content or ''}")
        elif name == "tdm-reservation":
            tdm = tdm or tdm_reserved(content)
    if says_no(robots, agent, PAGE_NO):
        return "page_meta_robots"
    if tdm or tdm_reserved(headers.get("tdm-reservation")):
        return "page_tdm_reserved"
    return None


def _pattern(location: str) -> re.Pattern:
    anchored = location.endswith("$")
    body = re.escape(location.rstrip("$")).replace(r"\*", ".*")
    return re.compile(body + ("$" if anchored else ""))


class TdmRep:
    """An origin's /.well-known/tdmrep.json, parsed; unreadable or absent means no rules."""

    def __init__(self, body: str | bytes | None):
        self.rules: list[tuple[re.Pattern, bool]] = []
        try:
            doc = json.loads(body) if body else []
        except (ValueError, UnicodeDecodeError):
            doc = []
        for rule in doc if isinstance(doc, list) else []:
            if isinstance(rule, dict) and isinstance(rule.get("location"), str):
                loc = "/" + rule["location"].lstrip("/")
                self.rules.append((_pattern(loc), str(rule.get("tdm-reservation")) == "1"))

    def reserved(self, url: str) -> bool:
        p = urlsplit(url)
        path = (p.path or "/") + (f"?{p.query}" if p.query else "")
        for pattern, reserved in self.rules:
            if pattern.match(path):
                return reserved
        return False


def fetch_tdmrep(fetcher, origin_url: str, robots=None) -> str:
    """The origin's tdmrep.json as text; "" (no reservations) unless it answered 200. Asked
    only where robots.txt allows the path: a site closed to us is not asked for it either."""
    url = origin_url + TDMREP_PATH
    robots = robots if robots is not None else fetcher.robots
    if robots is not None and not robots.allowed(url):
        return ""
    resp = fetcher.get(url, check_robots=False)
    ok = resp.status == "success" and resp.body
    return resp.body[:PARSE_LIMIT].decode("utf-8-sig", errors="replace") if ok else ""


class TdmCache:
    """Every origin's TDMRep rules, given up front or fetched once on first use."""

    def __init__(self, known: dict[str, str] | None = None, fetcher=None):
        self._files = PerOrigin(TdmRep, lambda o: fetch_tdmrep(fetcher, o), known)

    def reserved(self, url: str) -> bool:
        return self._files.get(url).reserved(url)
