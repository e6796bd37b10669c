"""The final shards: kept samples in a seeded global shuffle, a fixed number per shard.

The shuffle is the order of a seeded hash of each key, so it needs no global permutation:
the partitioned decision ranks each hash range on its own (`place.py`).

Bytes are copied from the crawl's tars (the scan recorded where each member lies), so
nothing is decoded or re-encoded again. Each shard is written to a temporary name and
renamed, and its `key.json` carries the sample's metadata and provenance.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.core.io import atomic_output, atomic_write_text
from openwit.pipeline.crawl.writer import add_member
from openwit.pipeline.shards.scan import read_member


def order_keys(keys: list[str], seed: int) -> np.ndarray:
    """Each key's place in the seeded shuffle: a keyed 64-bit BLAKE2b of the key, the same
    on every machine, so any process can order its own rows without seeing the others."""
    salt = seed.to_bytes(8, "little", signed=True)
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8, key=salt).digest(), "big")
            for k in keys
        ),
        np.uint64,
        count=len(keys),
    )


def shuffled(keys: list[str], order: np.ndarray) -> np.ndarray:
    """Indices of the rows in shuffled order: by order key, then by key (a tie is 2^-64)."""
    return np.lexsort((np.asarray(keys, dtype=object), order))


def assign(keys: list[str], seed: int, shard_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(shard, position) for each kept sample: its rank in the shuffle, cut in pieces."""
    slot = np.empty(len(keys), np.int64)
    slot[shuffled(keys, order_keys(keys, seed))] = np.arange(len(keys))
    return slot // shard_size, slot % shard_size


META = (
    "key",
    "url",
    "caption",
    "page_url",
    "matched",
    "width",
    "height",
    "original_width",
    "original_height",
    "sha256",
    "lang",
    "lang_score",
    "crawl_shard",
)
# What writing a kept sample needs: its metadata and where its members lie in the crawl's tar.
WRITE_COLUMNS = (
    *META,
    "image_ext",
    "image_offset",
    "image_size",
    "text_offset",
    "text_size",
    "phash",
    "dhash",
)


def write_placed_shard(out: str | Path, shard: int, placement: list[Path], crawl: str) -> int:
    """Write final shard `shard` from the rows the placement tables give it."""
    rows = pq.read_table([str(p) for p in placement], filters=[("shard", "=", shard)])
    samples = []
    for r in rows.sort_by("position").to_pylist():
        meta = {k: r[k] for k in META}
        hashed = r["phash"] is not None  # --no-dedup fingerprints nothing
        meta.update(
            phash=f"{r['phash'][0]:016x}" if hashed else None,
            dhash=f"{r['dhash']:016x}" if hashed else None,
            shard=shard,
        )
        samples.append({**r, "meta": meta})
    return write_final_shard(out, shard, samples, crawl)


def shard_path(out: str | Path, shard: int) -> Path:
    return Path(out) / f"{shard:05d}.tar"


def read_images(crawl: str, rows: pa.Table) -> list[bytes]:
    """Each row's image bytes from the crawl's tars, by the scan's `crawl_shard`,
    `image_offset` and `image_size`: one open tar per crawl shard, nothing unpacked."""
    shard = np.array(rows.column("crawl_shard").to_pylist(), np.int64)
    offset, size = (rows.column(c).to_pylist() for c in ("image_offset", "image_size"))
    images: list[bytes] = [b""] * rows.num_rows
    for s in np.unique(shard):
        at = np.flatnonzero(shard == s)
        got = storage.read_ranges(f"{crawl}/{int(s):05d}.tar", [(offset[i], size[i]) for i in at])
        for i, data in zip(at, got, strict=True):
            images[i] = data
    return images


def write_final_shard(out: str | Path, shard: int, samples: list[dict], crawl_dir: str) -> int:
    """`samples` in shard order, each with key, crawl_shard, image_ext/offset/size,
    text_offset/size and meta. Returns the number written."""
    by_tar: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_tar[s["crawl_shard"]].append(i)
    data: list[tuple[bytes, bytes]] = [(b"", b"")] * len(samples)
    for crawl_shard, idx in by_tar.items():
        with storage.open_input(f"{crawl_dir}/{crawl_shard:05d}.tar") as f:
            for i in sorted(idx, key=lambda i: samples[i]["image_offset"]):
                s = samples[i]
                data[i] = (
                    read_member(f, s["image_offset"], s["image_size"]),
                    read_member(f, s["text_offset"], s["text_size"]),
                )
    with (
        atomic_output(shard_path(out, shard)) as f,
        tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for s, (image, text) in zip(samples, data, strict=True):
            add_member(tar, f"{s['key']}.{s['image_ext']}", image)
            add_member(tar, f"{s['key']}.txt", text)
            meta = json.dumps(s["meta"], ensure_ascii=False, sort_keys=True)
            add_member(tar, f"{s['key']}.json", meta.encode())
    return len(samples)


def write_sizes(out: str | Path, counts: dict[int, int]) -> None:
    """`sizes.json`, which open_clip's trainer reads to know how many samples shards hold."""
    sizes = {shard_path(out, s).name: n for s, n in sorted(counts.items())}
    atomic_write_text(Path(out) / "sizes.json", json.dumps(sizes, indent=1) + "\n")
