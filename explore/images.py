"""An image's bytes by its pair id, read from a tar by offset, never unpacked to disk.

Every downloaded image (kept or dropped) lies in the crawl's tars at the offset the shards
job's scan recorded. When the crawl is not at hand (a shards folder copied alone), a kept
image is read from its output shard instead, through that tar's member index (headers only).
"""

from __future__ import annotations

import functools
import tarfile

from openwit.core import storage
from openwit.explore.catalog import Catalog

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG", "image/png"),
    (b"RIFF", "image/webp"),
    (b"GIF8", "image/gif"),
)


def media_type(data: bytes) -> str:
    return next((t for magic, t in _MAGIC if data.startswith(magic)), "application/octet-stream")


class Images:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.crawl = catalog.src.crawl
        self.shards = catalog.src.shards

    def get(self, pair_id: str) -> bytes | None:
        loc = self.catalog.image_location(pair_id)
        if loc is None:
            return None
        if self.crawl and loc["image_size"] is not None:
            path = f"{self.crawl}/{int(loc['crawl_shard']):05d}.tar"
            if storage.exists(path):
                return storage.read_ranges(path, [(loc["image_offset"], loc["image_size"])])[0]
        if loc["shard"] is None:
            return None
        member = self._members(int(loc["shard"])).get(loc["key"])
        if member is None:
            return None
        return storage.read_ranges(f"{self.shards}/{int(loc['shard']):05d}.tar", [member])[0]

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one per app, lives as long
    def _members(self, shard: int) -> dict[str, tuple[int, int]]:
        """key -> (offset, size) of the image member of one output shard."""
        out = {}
        with (
            storage.open_input(f"{self.shards}/{shard:05d}.tar") as f,
            tarfile.open(fileobj=f, mode="r:") as tar,
        ):
            for m in tar:
                key, _, ext = m.name.rpartition(".")
                if ext in ("jpg", "jpeg", "png", "webp"):
                    out[key] = (m.offset_data, m.size)
        return out
