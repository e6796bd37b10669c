"""One caption cleaning for every source: page alt text, WAT metadata and URL lists alike.

HTML entities unescaped (URL lists carry them raw: `Can&oacute;`), HTML element tags stripped
(`<strong>`, `<br />`), mojibake repaired (ftfy), replacement characters (U+FFFD, bytes a
decoder gave up on) and controls removed, whitespace collapsed, cut at `limit` characters.
The crawl records `CLEANING_VERSION` in its config, so a change here is a new crawl, never a
silent mix.
"""

from __future__ import annotations

import html
import re

import ftfy

CLEANING_VERSION = "2"
_WS = re.compile(r"\s+")
# Tags of HTML elements only: `<PERSON>` (CC12M's stand-in for names) and `<3` are text.
_ELEMENTS = (
    "a|abbr|b|bdi|bdo|big|blockquote|br|center|cite|code|dd|del|dfn|div|dl|dt|em|font|h[1-6]"
    "|hr|i|img|ins|kbd|li|mark|nobr|ol|p|pre|q|s|samp|small|span|strike|strong|sub|sup|table"
    "|tbody|td|th|thead|tr|tt|u|ul|var|wbr"
)
_TAG = re.compile(rf"</?(?:{_ELEMENTS})(?:\s[^<>]*)?/?>", re.I)
_JUNK = re.compile(r"[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Text ftfy could change: anything outside printable ASCII and whitespace (mojibake, controls,
# terminal escapes). Most alt text is plain ASCII and skips ftfy, the costliest step here.
_NEEDS_FTFY = re.compile(r"[^\t\n\r\x20-\x7e]")
_FTFY = ftfy.TextFixerConfig(
    uncurl_quotes=False,
    unescape_html=False,
    fix_character_width=False,
    fix_latin_ligatures=False,
    explain=False,
)


def clean_caption(text: str | None, limit: int = 20_000) -> str:
    if not text:
        return ""
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    if _NEEDS_FTFY.search(text):
        text = _JUNK.sub(" ", ftfy.fix_text(text, _FTFY))
    return _WS.sub(" ", text).strip()[:limit]
