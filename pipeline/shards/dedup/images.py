"""Deduplication: exact (URL, decoded pixels) and near-duplicate images.

A near duplicate is found in two steps. Candidates: a 64-bit DCT pHash within a Hamming
threshold, searched with multi-index hashing (`hamming.py`), never all pairs. Each image is
hashed as a whole and in nine windows of 93% of each side, so a crop of up to ~10% still
lands near one of its source's windows. Confirmation: the two views' 12x12 colour
thumbnails, normalised for brightness, must agree (RMS). The pHash alone sees only a
grey, low-frequency blob, and calls a red heart and a blue star on white the same picture;
the thumbnail keeps colour and layout.

Which copy survives is deterministic: the largest image, then the lowest key.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from openwit.pipeline.shards.dedup.hamming import HammingIndex

_DCT = np.array([[np.cos(np.pi * (2 * x + 1) * u / 64) for x in range(32)] for u in range(32)])
_S = 0.93  # window side, as a share of the image side
VIEWS = [(0.0, 0.0, 1.0, 1.0)] + [
    (ox * (1 - _S), oy * (1 - _S), ox * (1 - _S) + _S, oy * (1 - _S) + _S)
    for oy in (0.0, 0.5, 1.0)
    for ox in (0.0, 0.5, 1.0)
]
THUMB = 12
THUMB_BYTES = THUMB * THUMB * 3


@dataclass(frozen=True)
class DedupConfig:
    phash_max_distance: int = 8  # of 64 bits
    thumb_max_rms: float = 0.35  # brightness-normalised thumbnails, in standard deviations
    crop_views: bool = True  # also match crops of up to ~10% a side (10 hashes per image)
    # The pHash search: 3 bands of ~21 bits finds every pair within phash_max_distance, at
    # a cost that grows with n^2 / 2^21 past a few million hashes; 2 bands of 32 bits with
    # band_radius 2 costs the same per image at any n, finds every pair within 5 bits and
    # those within phash_max_distance that agree to 2 bits on one half (docs/scale.md).
    phash_bands: int = 3
    band_radius: int | None = None  # None: phash_max_distance // phash_bands (all pairs)

    def __post_init__(self) -> None:
        if not 2 <= self.phash_bands <= 8:
            raise ValueError(f"--phash-bands {self.phash_bands}: use 2 to 8 (default 3)")
        if self.band_radius is not None and not 0 <= self.band_radius <= 3:
            raise ValueError(f"--band-radius {self.band_radius}: use 0 to 3 (2 bands: 2)")


@dataclass(frozen=True)
class Fingerprint:
    pixels: str  # hash of the decoded pixels and size: a re-encode with equal pixels matches
    phash: np.ndarray  # uint64 per view; view 0 is the whole image
    dhash: int
    thumbs: bytes  # uint8 RGB thumbnails, one per view, laid end to end


def fingerprint(data: bytes) -> Fingerprint:
    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
    pixels = hashlib.blake2b(im.tobytes() + repr(im.size).encode(), digest_size=8).hexdigest()
    grey = im.convert("L")
    w, h = im.size
    ph, thumbs = [], []
    for x0, y0, x1, y1 in VIEWS:
        box = (x0 * w, y0 * h, x1 * w, y1 * h)
        small = np.asarray(grey.resize((32, 32), Image.BILINEAR, box=box), dtype=np.float64)
        coeffs = (_DCT @ small @ _DCT.T)[:8, :8].ravel()
        ph.append(_bits(coeffs > np.median(coeffs[1:])))
        thumbs.append(im.resize((THUMB, THUMB), Image.BOX, box=box).tobytes())
    d9 = np.asarray(grey.resize((9, 8), Image.BILINEAR), dtype=np.int16)
    dh = _bits((d9[:, 1:] > d9[:, :-1]).ravel())
    return Fingerprint(pixels, np.array(ph, dtype=np.uint64), dh, b"".join(thumbs))


def _bits(flags: np.ndarray) -> int:
    return int(np.packbits(flags.astype(np.uint8)).view(">u8")[0])


def normalised_thumbs(thumbs: list[bytes]) -> np.ndarray:
    """(n, views, 432) float32, each view shifted to mean 0 and scaled to unit spread."""
    t = np.frombuffer(b"".join(thumbs), np.uint8)
    return normalise(t.reshape(len(thumbs), -1, THUMB_BYTES))


def normalise(thumbs: np.ndarray) -> np.ndarray:
    """uint8 thumbnails (..., 432) as float32, each shifted to mean 0 and unit spread."""
    t = thumbs.astype(np.float32)
    t -= t.mean(-1, keepdims=True)
    return t / np.maximum(t.std(-1, keepdims=True), 8.0)  # flat images: do not blow up noise


def thumb_rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS difference of normalised thumbnails, per row."""
    return np.sqrt(((a - b) ** 2).mean(-1))


def matching_pairs(
    a_hash: np.ndarray,
    a_thumb: np.ndarray,
    b_hash: np.ndarray,
    b_thumb: np.ndarray,
    cfg: DedupConfig = DedupConfig(),
    both_ways: bool = True,
) -> np.ndarray:
    """(i in a, j in b) whose images match: a's whole image near one of b's views, or the
    reverse. Hashes are (n, views) uint64, thumbs from `normalised_thumbs`. Within one set
    (a is b) one way suffices: every image is also searched as a whole."""
    views = a_hash.shape[1] if cfg.crop_views else 1
    found = []
    ways = [(a_hash, a_thumb, b_hash, b_thumb, False), (b_hash, b_thumb, a_hash, a_thumb, True)]
    for q_hash, q_thumb, i_hash, i_thumb, flip in ways[: 2 if both_ways else 1]:
        index = HammingIndex(i_hash[:, :views].ravel(), cfg.phash_bands)
        hits = index.search(q_hash[:, 0], cfg.phash_max_distance, cfg.band_radius)
        q, row, view = hits[:, 0], hits[:, 1] // views, hits[:, 1] % views
        rms = thumb_rms(q_thumb[q, 0], i_thumb[row, view])
        ok = rms <= cfg.thumb_max_rms
        pair = np.stack([row[ok], q[ok]] if flip else [q[ok], row[ok]], axis=1)
        found.append(pair)
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def near_duplicate_pairs(
    hashes: np.ndarray, thumbs: np.ndarray, cfg: DedupConfig = DedupConfig()
) -> np.ndarray:
    """(i, j), i < j, of one set whose images match."""
    pairs = matching_pairs(hashes, thumbs, hashes, thumbs, cfg, both_ways=False)
    pairs = np.sort(pairs, axis=1)
    pairs = pairs[pairs[:, 0] < pairs[:, 1]]
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def survivors(groups: list[list[int]], rank: list[tuple]) -> dict[int, int]:
    """Each duplicate row's survivor: the member of its group with the lowest rank, e.g.
    (fails a filter, -area, key): a kept row first, then the largest, then the lowest key."""
    dup_of = {}
    for g in groups:
        best = min(g, key=lambda i: rank[i])
        dup_of.update({i: best for i in g if i != best})
    return dup_of


def components(n: int, pairs: np.ndarray) -> list[list[int]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def exact_groups(values: list) -> list[list[int]]:
    by: dict = {}
    for i, v in enumerate(values):
        if v is not None:
            by.setdefault(v, []).append(i)
    return [g for g in by.values() if len(g) > 1]


def dedup(
    keys: list[str],
    urls: list[str],
    prints: list[Fingerprint],
    rank: list[tuple],
    cfg: DedupConfig = DedupConfig(),
) -> list[tuple[str | None, str | None]]:
    """(dup_kind, dup_of key) per row; (None, None) for rows that survive.

    Exact first: the same URL, or the same pixels (which covers the same image and caption).
    Then near-duplicate images among the exact survivors. `rank` orders a group's members;
    the lowest survives."""
    n = len(keys)
    out: list[tuple[str | None, str | None]] = [(None, None)] * n
    # One group per set of rows linked by URL or by pixels, so every copy names the one
    # survivor (never a row that is itself dropped).
    links = [
        [g[0], i]
        for g in exact_groups(urls) + exact_groups([p.pixels for p in prints])
        for i in g[1:]
    ]
    exact_of = survivors(components(n, np.array(links).reshape(-1, 2)), rank)
    for i, j in exact_of.items():
        out[i] = ("exact_url" if urls[i] == urls[j] else "exact_pixels", keys[j])
    if not n:
        return out
    hashes = np.stack([p.phash for p in prints])
    thumbs = normalised_thumbs([p.thumbs for p in prints])
    pairs = near_duplicate_pairs(hashes, thumbs, cfg)
    # Rows already marked point at their survivor; near pairs are judged among survivors.
    alive = np.array([o[0] is None for o in out])
    pairs = pairs[alive[pairs[:, 0]] & alive[pairs[:, 1]]] if len(pairs) else pairs
    near_of = survivors(components(n, pairs), rank)
    for i, j in near_of.items():
        out[i] = ("near_image", keys[j])
    # An exact copy of a row that then went as a near duplicate names the row that stayed, and
    # is itself a near duplicate of it (the kind always says how a row relates to its dup_of).
    for i, j in exact_of.items():
        if j in near_of:
            out[i] = ("near_image", keys[near_of[j]])
    return out
