"""Paths in, paths out: local files or any fsspec URL (s3://, gs://, https://).

Writes are atomic on local disks (temporary name, then rename), so a crash never leaves a
half file under a final name; object stores are atomic per object already.
"""

from __future__ import annotations

import glob
import io
import os
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from openwit.core.io import atomic_output

WARC_SUFFIXES = (".warc.gz", ".warc", ".arc.gz")


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


@contextmanager
def open_input(path: str):
    if is_remote(path):
        import fsspec

        with fsspec.open(path, "rb") as f:
            yield f
    else:
        with open(path.removeprefix("file://"), "rb") as f:
            yield f


def exists(path: str) -> bool:
    if is_remote(path):
        import fsspec

        fs, p = fsspec.core.url_to_fs(path)
        return fs.exists(p)
    return os.path.exists(path.removeprefix("file://"))


def expand_inputs(inputs: list[str], suffixes: tuple[str, ...] = WARC_SUFFIXES) -> list[str]:
    """Files behind paths, globs and folders (searched recursively for `suffixes`), sorted."""
    out: list[str] = []
    for item in inputs:
        if is_remote(item):
            import fsspec

            fs, _, paths = fsspec.get_fs_token_paths(item)
            proto = item.split("://", 1)[0]
            found = (
                paths
                if any(c in item for c in "*?[")
                else (
                    [p for p in fs.find(paths[0]) if p.endswith(suffixes)]
                    if fs.isdir(paths[0])
                    else paths
                )
            )
            out.extend(f"{proto}://{p}" for p in found)
        elif os.path.isdir(item):
            out.extend(str(p) for p in Path(item).rglob("*") if str(p).endswith(suffixes))
        else:
            matches = glob.glob(item)
            if not matches:
                raise FileNotFoundError(
                    f"input {item!r} matches no file; give WARC paths, a folder or a glob"
                )
            out.extend(matches)
    return sorted(set(out))


def read_table(path: str) -> pa.Table:
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    with open_input(path) as f:
        data = f.read()
    if path.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data))
    if path.endswith(".csv"):
        return pcsv.read_csv(io.BytesIO(data))
    if path.endswith((".jsonl", ".json")):
        return pjson.read_json(io.BytesIO(data))
    raise ValueError(f"{path}: unknown list format; use .parquet, .csv or .jsonl")


def write_parquet(table: pa.Table, path: str | Path) -> None:
    with atomic_output(path) as f:
        pq.write_table(table, f)


def read_ranges(path: str, ranges: list[tuple[int, int]]) -> list[bytes]:
    """The bytes at each (offset, size) of one file, read in offset order on one handle: a
    tar member by the offset the scan recorded, local or remote, without unpacking."""
    out: list[bytes] = [b""] * len(ranges)
    with open_input(path) as f:
        for i in sorted(range(len(ranges)), key=lambda i: ranges[i][0]):
            f.seek(int(ranges[i][0]))
            out[i] = f.read(int(ranges[i][1]))
    return out
