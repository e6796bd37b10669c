"""The final shards: kept samples in a seeded global shuffle, a fixed number per shard.

Bytes are copied from the crawl's tars (the scan recorded where each member lies), so
nothing is decoded or re-encoded again. Each shard is written to a temporary name and
renamed, and its `key.json` carries the sample's metadata and provenance.
"""

from __future__ import annotations

import json
import tarfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from openwit.core import storage
from openwit.core.io import atomic_output, atomic_write_text
from openwit.pipeline.crawl.writer import add_member
from openwit.pipeline.shards.scan import read_member


def assign(n: int, seed: int, shard_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(shard, position) for each of n kept samples: a seeded permutation cut in pieces."""
    order = np.random.default_rng(seed).permutation(n)
    slot = np.empty(n, np.int64)
    slot[order] = np.arange(n)
    return slot // shard_size, slot % shard_size


def shard_path(out: str | Path, shard: int) -> Path:
    return Path(out) / f"{shard:05d}.tar"


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
