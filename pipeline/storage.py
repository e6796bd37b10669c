"""Paths in, paths out: local files or any fsspec URL (s3://, gs://, https://).

Writes are atomic on local disks (temporary name, then rename), so a crash never leaves a
half file under a final name; object stores are atomic per object already.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from queries.io import atomic_output, atomic_write_text  # noqa: F401 - one mechanism for every stage

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


def staging_dir(url: str, root: str | Path = "data/.staging") -> Path:
    """The local folder a job writes a remote output in before publishing it; the same for
    the same URL, so a killed job finds its progress there."""
    return Path(root) / re.sub(r"[^A-Za-z0-9._-]+", "_", url.rstrip("/"))


def fetch_markers(url: str, local: Path, names=("_config.json", "_summary.json")) -> None:
    """Copy a remote output's settings and completion marker beside a staging folder, so the
    job sees what is there: other settings (refused), finished (nothing to do)."""
    import fsspec

    local.mkdir(parents=True, exist_ok=True)
    for name in names:
        if exists(f"{url.rstrip('/')}/{name}"):
            with fsspec.open(f"{url.rstrip('/')}/{name}", "rb") as f:
                atomic_write_text(local / name, f.read().decode())


def publish(local: Path, url: str, last: str = "_summary.json", skip=("_scan",)) -> int:
    """Upload a finished folder to `url` (each object appears whole, or not at all), `last`
    after everything else so a reader that sees it sees a complete output. Working files
    (`skip`) stay local. Returns the number of files uploaded."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url.rstrip("/"))
    files = sorted(
        p
        for p in local.rglob("*")
        if p.is_file() and not p.name.endswith(".tmp") and p.relative_to(local).parts[0] not in skip
    )
    files.sort(key=lambda p: p.name == last)
    for p in files:
        fs.put_file(str(p), f"{root}/{p.relative_to(local).as_posix()}")
    return len(files)


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


def clean_temporaries(folder: str | Path) -> int:
    """Remove what a killed run left half-written (`.name.*.tmp`); returns how many."""
    n = 0
    for p in Path(folder).rglob(".*.tmp"):
        p.unlink(missing_ok=True)
        n += 1
    return n


class ConfigMismatch(ValueError):
    """An output folder already holds a job run with other settings."""


def claim_output(out: Path, fingerprint: dict, what: str) -> None:
    """Record the settings a job writes `out` with, or refuse if it holds other ones."""
    path = out / "_config.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != fingerprint:
            keys = differing_keys(saved, fingerprint)
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            raise ConfigMismatch(
                f"{out} holds {what} made with other settings ({', '.join(keys[:3])}{more} "
                f"{'differs' if len(keys) == 1 else 'differ'}); give another --out, or delete "
                "it to start over"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(fingerprint, indent=2))


def differing_keys(a: object, b: object, prefix: str = "") -> list[str]:
    """Dotted paths at which two JSON values differ, so a refusal can say what changed."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            k
            for key in sorted(set(a) | set(b), key=str)
            for k in differing_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        ]
    return [] if a == b else [prefix.rstrip(".") or "value"]
