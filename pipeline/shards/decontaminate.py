"""Decontamination (CLIP §5): find training images that copy an evaluation image, and say how
much of each evaluation set leaked into the training data.

Evaluation sets are image folders, `<root>/<set>/<label>/<name>.<ext>` (the sandbox's
`eval/`, or any ImageFolder). A training image matches an evaluation image by the same test
as near-duplicate dedup (`dedup.images.matching_pairs`), so a resized or re-encoded copy
is caught. The report per set is CLIP's: All, Overlap, Clean and the overlap share; the
accuracy columns are filled by `openwit eval`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openwit.pipeline.shards.dedup.images import (
    DedupConfig,
    Fingerprint,
    fingerprint,
    matching_pairs,
    normalised_thumbs,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class EvalImage:
    eval_id: str  # "<set>/<label>/<name>"
    set: str
    label: str
    path: str


def eval_images(root: str | Path) -> list[EvalImage]:
    """Every image under `root/<set>/<label>/`, sorted; empty if `root` does not exist."""
    root = Path(root)
    out = []
    for path in sorted(root.glob("*/*/*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            set_name, label = path.parent.parent.name, path.parent.name
            out.append(EvalImage(f"{set_name}/{label}/{path.stem}", set_name, label, str(path)))
    return out


def fingerprint_evals(images: list[EvalImage], threads: int = 4) -> list[Fingerprint]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda e: fingerprint(Path(e.path).read_bytes()), images))


def find_copies(
    train: list[Fingerprint],
    evals: list[Fingerprint],
    cfg: DedupConfig | None = None,
) -> dict[int, list[int]]:
    """Training row -> the evaluation rows it copies (same pixels, or a near duplicate)."""
    cfg = cfg or DedupConfig()
    if not train or not evals:
        return {}
    pairs = matching_pairs(
        np.stack([f.phash for f in train]),
        normalised_thumbs([f.thumbs for f in train]),
        np.stack([f.phash for f in evals]),
        normalised_thumbs([f.thumbs for f in evals]),
        cfg,
    ).tolist()
    by_pixels: dict[str, list[int]] = {}
    for j, f in enumerate(evals):
        by_pixels.setdefault(f.pixels, []).append(j)
    for i, f in enumerate(train):
        pairs += [[i, j] for j in by_pixels.get(f.pixels, [])]
    out: dict[int, list[int]] = {}
    for i, j in sorted({(i, j) for i, j in pairs}):
        out.setdefault(i, []).append(j)
    return out


def overlap_report(images: list[EvalImage], copies: dict[int, list[int]]) -> list[dict]:
    """Per evaluation set: All, Overlap (images with a copy in the crawl), Clean, share."""
    leaked = {j for js in copies.values() for j in js}
    rows = []
    for set_name in sorted({e.set for e in images}):
        idx = [j for j, e in enumerate(images) if e.set == set_name]
        overlap = sum(j in leaked for j in idx)
        rows.append(
            {
                "set": set_name,
                "all": len(idx),
                "overlap": overlap,
                "clean": len(idx) - overlap,
                "overlap_share": overlap / len(idx) if idx else 0.0,
                "overlap_ids": [images[j].eval_id for j in idx if j in leaked],
            }
        )
    return rows
