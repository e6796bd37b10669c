"""Common Crawl's listings as inputs: `warc.paths.gz` / `wat.paths.gz` plus a prefix.

A listing holds one path a line relative to the bucket root (`crawl-data/CC-MAIN-…/…
.warc.gz`). Each becomes `prefix + path`: `https://data.commoncrawl.org/` (the default),
`s3://commoncrawl/`, or a local mirror. A local listing inside a `crawl-data/` tree (the
sandbox's) defaults to the folder above `crawl-data/`. Each file is then streamed by the
harvest task (fsspec), never copied whole to disk first.
"""

from __future__ import annotations

import gzip
import os

from openwit.core import storage

CC_PREFIX = "https://data.commoncrawl.org/"


def is_listing(path: str) -> bool:
    return path.lower().endswith((".paths.gz", ".paths"))


def default_prefix(listing: str) -> str:
    if not storage.is_remote(listing) and "crawl-data" in listing.replace("\\", "/").split("/"):
        parts = os.path.abspath(listing).split(os.sep)
        return os.sep.join(parts[: parts.index("crawl-data")]) + os.sep
    return CC_PREFIX


def expand_listing(listing: str, prefix: str | None = None) -> list[str]:
    """The files a listing names, in its order (the crawl sorts them later)."""
    with storage.open_input(listing) as f:
        data = f.read()
    if listing.lower().endswith(".gz"):
        data = gzip.decompress(data)
    prefix = prefix if prefix is not None else default_prefix(listing)
    if prefix and not prefix.endswith("/") and not prefix.endswith(os.sep):
        prefix += "/"
    lines = [ln.strip() for ln in data.decode("utf-8").splitlines()]
    paths = [prefix + ln.lstrip("/") for ln in lines if ln and not ln.startswith("#")]
    if not paths:
        raise ValueError(f"{listing}: an empty listing; expected one archive path a line")
    return paths
