"""Decontamination (CLIP §5): find training images that copy an evaluation image, and say how
much of each evaluation set leaked into the training data.

Evaluation sets are image folders, `<root>/<set>/<label>/<name>.<ext>` (the sandbox's
`eval/`, or any ImageFolder). A training image matches an evaluation image by the same test
as near-duplicate dedup (`dedup.images.matching_pairs`), so a resized or re-encoded copy
is caught. The report per set is CLIP's: All, Overlap, Clean and the overlap share; the
accuracy columns are filled by `openwit eval`.
"""

from __future__ import annotations

import hashlib
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


@dataclass(frozen=True)
class EvalSet:
    """Every evaluation image's fingerprint, ready to match: small (thousands of images), so
    the shards job sends one copy to every scan task and each matches its own rows."""

    ids: tuple[str, ...]
    hashes: np.ndarray  # (n, views) uint64
    thumbs: np.ndarray  # normalised, (n, views, 432) float32
    by_pixels: dict[str, list[int]]

    @property
    def digest(self) -> str:
        """What the set holds, for a cache key: another set under the same path differs."""
        h = hashlib.blake2b(digest_size=8)
        h.update("\n".join(self.ids).encode())
        h.update(self.hashes.tobytes())
        h.update("\n".join(sorted(self.by_pixels)).encode())
        return h.hexdigest()

    @classmethod
    def of(cls, images: list[EvalImage], prints: list[Fingerprint]) -> EvalSet:
        by_pixels: dict[str, list[int]] = {}
        for j, f in enumerate(prints):
            by_pixels.setdefault(f.pixels, []).append(j)
        return cls(
            tuple(e.eval_id for e in images),
            np.stack([f.phash for f in prints]),
            normalised_thumbs([f.thumbs for f in prints]),
            by_pixels,
        )


def find_copies(
    train: list[Fingerprint], evals: EvalSet, cfg: DedupConfig | None = None
) -> dict[int, list[int]]:
    """Training row -> the evaluation rows it copies (same pixels, or a near duplicate). A
    pair depends on its two images only, so any partition of the training rows finds the
    same pairs."""
    cfg = cfg or DedupConfig()
    if not train or not evals.ids:
        return {}
    pairs = matching_pairs(
        np.stack([f.phash for f in train]),
        normalised_thumbs([f.thumbs for f in train]),
        evals.hashes,
        evals.thumbs,
        cfg,
    ).tolist()
    for i, f in enumerate(train):
        pairs += [[i, j] for j in evals.by_pixels.get(f.pixels, [])]
    out: dict[int, list[int]] = {}
    for i, j in sorted({(i, j) for i, j in pairs}):
        out.setdefault(i, []).append(j)
    return out


def contaminated_by(
    prints: list[Fingerprint | None], evals: EvalSet, cfg: DedupConfig | None = None
) -> list[list[str] | None]:
    """Per row, the ids of the evaluation images it copies (None: none, or no image)."""
    rows = [i for i, f in enumerate(prints) if f is not None]
    copies = find_copies([prints[i] for i in rows], evals, cfg)
    out: list[list[str] | None] = [None] * len(prints)
    for k, js in copies.items():
        out[rows[k]] = [evals.ids[j] for j in js]
    return out


def overlap_report(images: list[EvalImage], leaked_ids: set[str]) -> list[dict]:
    """Per evaluation set: All, Overlap (images with a copy in the crawl), Clean, share."""
    leaked = {j for j, e in enumerate(images) if e.eval_id in leaked_ids}
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
