"""A job's bookkeeping around its output folder: claim it with the settings (refuse other
ones), clean what a killed run left, write the summary that marks it complete, and stage a
remote output locally before publishing it whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from openwit.core.io import atomic_write_text
from openwit.core.storage import exists

SUMMARY = "_summary.json"  # written last: a folder that has it is complete
ATTRIBUTION = "ATTRIBUTION.md"  # sources and licences of the content, beside the data
CONFIG = "_config.json"


def staging_dir(url: str, root: str | Path = "data/.staging") -> Path:
    """The local folder a job writes a remote output in before publishing it; the same for
    the same URL, so a killed job finds its progress there."""
    return Path(root) / re.sub(r"[^A-Za-z0-9._-]+", "_", url.rstrip("/"))


def fetch_markers(url: str, local: Path, names=(CONFIG, SUMMARY)) -> None:
    """Copy a remote output's settings and completion marker beside a staging folder, so the
    job sees what is there: other settings (refused), finished (nothing to do)."""
    import fsspec

    local.mkdir(parents=True, exist_ok=True)
    for name in names:
        if exists(f"{url.rstrip('/')}/{name}"):
            with fsspec.open(f"{url.rstrip('/')}/{name}", "rb") as f:
                atomic_write_text(local / name, f.read().decode())


def publish(local: Path, url: str, last: str = SUMMARY, skip=("_scan",)) -> int:
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
    path = out / CONFIG
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


def read_summary(out: str | Path) -> dict | None:
    path = Path(out) / SUMMARY
    return json.loads(path.read_text()) if path.is_file() else None


def write_summary(out: str | Path, summary: dict) -> None:
    atomic_write_text(Path(out) / SUMMARY, json.dumps(summary, indent=2) + "\n")
