"""Write one shard in img2dataset's conventions: `00012.tar` (WebDataset: `key.jpg`,
`key.txt`, `key.json` for each success), `00012.parquet` (every row of the shard with its
status) and `00012_stats.json`, written last: its presence marks the shard complete.

Each file goes to a temporary name and is renamed when whole, so a crash never leaves a
half shard that looks finished, and a rerun redoes exactly the shards without stats.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa

from openwit.core import storage
from openwit.core.io import atomic_output


def shard_name(shard_id: int) -> str:
    return f"{shard_id:05d}"


def is_complete(folder: str | Path, shard_id: int) -> bool:
    return (Path(folder) / f"{shard_name(shard_id)}_stats.json").is_file()


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o444, 0  # fixed: a rerun writes the same bytes
    tar.addfile(info, io.BytesIO(data))


def write_shard(
    folder: str | Path,
    shard_id: int,
    samples: list[dict],
    rows: list[dict],
    schema: pa.Schema,
    stats: dict,
) -> None:
    """`samples`: successes with `key`, `image` bytes, `ext`, `caption`, `meta` (dict)."""
    folder = Path(folder)
    name = shard_name(shard_id)
    with (
        atomic_output(folder / f"{name}.tar") as f,
        tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for s in samples:
            add_member(tar, f"{s['key']}.{s['ext']}", s["image"])
            add_member(tar, f"{s['key']}.txt", s["caption"].encode("utf-8"))
            add_member(tar, f"{s['key']}.json", json.dumps(s["meta"], ensure_ascii=False).encode())
    storage.write_parquet(pa.Table.from_pylist(rows, schema=schema), folder / f"{name}.parquet")
    with atomic_output(folder / f"{name}_stats.json", "w") as f:
        json.dump(stats, f, indent=2)
