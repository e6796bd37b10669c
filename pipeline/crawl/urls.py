"""URLs as browsers read them: the WHATWG URL standard (ada) and the HTML srcset algorithm.

ada, the WHATWG-conformant parser in Node.js, does what urllib does not: IDNA to punycode,
the standard's percent-encode sets (existing escapes kept as written), `.` and `..` segments
removed, backslashes and stray whitespace handled as browsers do. Fragments are dropped: they
never reach a server, and two URLs differing only there are one image.
"""

from __future__ import annotations

import re

import ada_url

_ASCII_WS = " \t\n\r\f"
_INT = re.compile(r"^[0-9]+$")
_FLOAT = re.compile(r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def normalize_url(raw: str | None, base: str | None) -> tuple[str | None, str]:
    """(absolute URL, "") or (None, why it was dropped)."""
    raw = (raw or "").strip(_ASCII_WS + "\0\x0b")
    if not raw:
        return None, "no_src"
    if raw[:5].lower() == "data:":
        return None, "data_url"
    try:
        url = ada_url.URL(raw, base) if base else ada_url.URL(raw)
    except ValueError:
        return None, "bad_url"
    if url.protocol not in ("http:", "https:"):
        return None, "not_http"
    if not url.hostname:
        return None, "bad_url"
    url.hash = ""
    return url.href, ""


def parse_srcset(value: str) -> list[tuple[str, str, float]]:
    """(url, kind, value) per valid candidate, by the HTML standard's srcset algorithm: a
    URL runs to whitespace (so commas inside it, as image CDNs write them, stay), descriptors
    run to a comma outside parentheses; kind is "w", "x" (no descriptor: 1x) or "h"."""
    out, i, n = [], 0, len(value)
    while True:
        while i < n and (value[i] in _ASCII_WS or value[i] == ","):
            i += 1
        if i >= n:
            return out
        start = i
        while i < n and value[i] not in _ASCII_WS:
            i += 1
        url, descriptors = value[start:i], []
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            i, descriptors = _descriptors(value, i)
        cand = _candidate(url, descriptors)
        if cand is not None:
            out.append(cand)


def _descriptors(value: str, i: int) -> tuple[int, list[str]]:
    n, tokens, cur, in_parens = len(value), [], "", False
    while i < n:
        c = value[i]
        i += 1
        if in_parens:
            cur += c
            in_parens = c != ")"
        elif c in _ASCII_WS:
            if cur:
                tokens.append(cur)
                cur = ""
        elif c == ",":
            break
        else:
            cur += c
            in_parens = c == "("
    if cur:
        tokens.append(cur)
    return i, tokens


def _candidate(url: str, descriptors: list[str]) -> tuple[str, str, float] | None:
    if not url:
        return None
    kinds: dict[str, float] = {}
    for d in descriptors:
        kind, num = d[-1:].lower(), d[:-1]
        if kind in kinds:
            return None  # a descriptor twice: the candidate is invalid
        if (
            kind in ("w", "h")
            and _INT.match(num)
            and int(num) > 0
            or kind == "x"
            and _FLOAT.match(num)
            and float(num) >= 0
        ):
            kinds[kind] = float(num)
        else:
            return None
    if "w" in kinds and "x" in kinds:
        return None
    if "w" in kinds:
        return url, "w", kinds["w"]
    if "h" in kinds:
        return None  # a height alone is invalid
    return url, "x", kinds.get("x", 1.0)


def best_candidate(candidates: list[tuple[str, str, float]]) -> str | None:
    """The largest picture offered: the widest `w`, else the densest `x`."""
    widths = [c for c in candidates if c[1] == "w"]
    pool = widths or candidates
    return max(pool, key=lambda c: c[2])[0] if pool else None


def best_srcset(value: str) -> str | None:
    return best_candidate(parse_srcset(value))
