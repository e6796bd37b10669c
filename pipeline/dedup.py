"""Deduplication: exact (URL, decoded pixels, image+caption) and near-duplicate images.

Near duplicates are found with perceptual hashes (a 64-bit DCT pHash, confirmed by a 64-bit
dHash) and multi-index hashing: the pHash is cut into 4 bands of 16 bits; two hashes within
Hamming distance k share at least one band within distance k // 4 (pigeonhole), so each band
is searched by enumerating its few neighbour keys in a sorted array. No all-pairs loop: the
work grows with n log n, not n².

Which copy survives is deterministic: the largest image, then the lowest key.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from dataclasses import dataclass

import numpy as np
from PIL import Image

_DCT = np.array([[np.cos(np.pi * (2 * x + 1) * u / 64) for x in range(32)] for u in range(32)])


@dataclass(frozen=True)
class DedupConfig:
    phash_max_distance: int = 10  # of 64 bits
    dhash_max_distance: int = 14  # the second opinion that keeps precision
    bands: int = 4


def hashes(data: bytes) -> tuple[str, int, int]:
    """(hash of the decoded pixels, pHash, dHash) of an encoded image."""
    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        pixels = hashlib.blake2b(im.tobytes() + repr(im.size).encode(), digest_size=8).hexdigest()
        grey = im.convert("L")
        small = np.asarray(grey.resize((32, 32), Image.BILINEAR), dtype=np.float64)
        d9 = np.asarray(grey.resize((9, 8), Image.BILINEAR), dtype=np.int16)
    coeffs = (_DCT @ small @ _DCT.T)[:8, :8].ravel()
    ph = coeffs > np.median(coeffs[1:])
    dh = (d9[:, 1:] > d9[:, :-1]).ravel()
    return pixels, _bits(ph), _bits(dh)


def _bits(flags: np.ndarray) -> int:
    return int(np.packbits(flags.astype(np.uint8)).view(">u8")[0])


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x)


def near_pairs(phash: np.ndarray, max_distance: int, bands: int = 4) -> np.ndarray:
    """All index pairs (i < j) with Hamming(phash[i], phash[j]) <= max_distance, as (n, 2)."""
    phash = phash.astype(np.uint64)
    width = 64 // bands
    radius = max_distance // bands
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in combo) for combo in itertools.combinations(range(width), r)]
    found = []
    for b in range(bands):
        keys = ((phash >> np.uint64(b * width)) & np.uint64((1 << width) - 1)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for mask in masks:
            probe = keys ^ mask
            lo = np.searchsorted(sorted_keys, probe, "left")
            hi = np.searchsorted(sorted_keys, probe, "right")
            counts = hi - lo
            if not counts.any():
                continue
            i = np.repeat(np.arange(len(keys)), counts)
            # the ranges lo[i]..hi[i] laid end to end, without a Python loop
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            j = order[np.repeat(lo, counts) + offsets]
            # Verify at once: only truly close pairs are kept, so memory stays small.
            keep = (i < j) & (_popcount(phash[i] ^ phash[j]) <= max_distance)
            found.append(i[keep] * len(phash) + j[keep])
    codes = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    return np.stack([codes // len(phash), codes % len(phash)], axis=1)


def survivors(groups: list[list[int]], area: list[int], keys: list[str]) -> dict[int, int]:
    """Each duplicate row's survivor: the group's largest image, then its lowest key."""
    dup_of = {}
    for g in groups:
        best = min(g, key=lambda i: (-area[i], keys[i]))
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
    captions: list[str],
    images: list[bytes],
    area: list[int],
    cfg: DedupConfig = DedupConfig(),
) -> list[tuple[str | None, str | None]]:
    """(dup_kind, dup_of key) per row; (None, None) for rows that survive.

    Order of checks: same URL, same pixels, near-duplicate image. (Same image and caption is
    a special case of same pixels, so it is reported as such.)"""
    n = len(keys)
    h = [hashes(b) for b in images]
    out: list[tuple[str | None, str | None]] = [(None, None)] * n
    for kind, groups in (
        ("exact_url", exact_groups(urls)),
        ("exact_pixels", exact_groups([x[0] for x in h])),
    ):
        for i, j in survivors(groups, area, keys).items():
            if out[i][0] is None and out[j][0] is None:
                out[i] = (kind, keys[j])
    ph = np.array([x[1] for x in h], dtype=np.uint64)
    dh = np.array([x[2] for x in h], dtype=np.uint64)
    pairs = near_pairs(ph, cfg.phash_max_distance, cfg.bands)
    if len(pairs):
        pairs = pairs[_popcount(dh[pairs[:, 0]] ^ dh[pairs[:, 1]]) <= cfg.dhash_max_distance]
    for i, j in survivors(components(n, pairs), area, keys).items():
        if out[i][0] is None:
            out[i] = ("near_image", keys[j])
    return out
