"""Find every pair of 64-bit codes within a Hamming distance, without comparing all pairs.

Multi-index hashing (Norouzi et al., 2012): cut each code into `bands` disjoint pieces. Two
codes within distance k agree, in at least one piece, to within k // bands bits
(pigeonhole), so each piece is searched by flipping at most that many of its bits. Pieces of
about 21 bits make a direct-address table (one offset per possible value) small enough to
hold; a probe costs one lookup plus one check per code already in its bucket, so the work is
linear in n only while the buckets stay nearly empty (n well under 2^21 codes): beyond that
every query checks about n / 2^21 codes per probe (docs/scale.md).

`BandTable` is one piece's table: `HammingIndex` holds one per band in one process, and the
shards job's partitioned search (`dedup/bands.py`) builds one per partition of a band.
"""

from __future__ import annotations

import itertools

import numpy as np

_CHUNK = 1 << 16  # queries per step: bounds the memory of the candidate expansion


def flip_masks(width: int, radius: int) -> np.ndarray:
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in combo) for combo in itertools.combinations(range(width), r)]
    return np.array(masks, dtype=np.int64)


def band_edges(bands: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, 64, bands + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def band_keys(codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return ((codes >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)).astype(np.int64)


def piece_keys(keys: np.ndarray, width: int, piece: tuple[int, int]) -> np.ndarray:
    """Band values (`width` bits) with the bits of `piece` moved to the top, the rest kept
    in order below: the piece names a bucket, the rest is what a probe may flip."""
    lo, hi = piece
    bits = hi - lo
    value = (keys >> lo) & ((1 << bits) - 1)
    rest = (keys & ((1 << lo) - 1)) | ((keys >> hi) << lo)
    return (value << (width - bits)) | rest


def piece_edges(width: int, pieces: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, width, pieces + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


class BandTable:
    """Codes by their band value (`keys`, `bits` wide): a probe for one value is one lookup.

    The lookup table has one slot per value up to 2^table_bits and hashes wider values into
    that many slots by their low bits (two 32-bit bands), so it stays about as big as the
    codes it holds; a slot's codes are checked for the exact value probed."""

    def __init__(self, codes: np.ndarray, keys: np.ndarray, bits: int):
        # 2-4 slots per code: most probes find an empty slot, whatever the table's size
        self.slot_bits = min(bits, max(8, int(np.ceil(np.log2(len(keys) + 1))) + 1))
        slots = keys & ((1 << self.slot_bits) - 1)
        self.order = np.argsort(slots, kind="stable")
        self.sorted_codes = np.ascontiguousarray(codes, dtype=np.uint64)[self.order]
        self.sorted_keys = keys[self.order]
        self.counts = np.bincount(slots, minlength=1 << self.slot_bits).astype(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def probe(
        self,
        queries: np.ndarray,
        keys: np.ndarray,
        masks: np.ndarray,
        max_distance: int,
        presorted: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(query row, table row) of every code within max_distance of a query whose band
        value is the query's flipped by one of `masks` (each pair found once). Queries
        `presorted` by key save a sort."""
        offsets, order, sorted_codes = self.offsets, self.order, self.sorted_codes
        slot_mask = (1 << self.slot_bits) - 1
        found_q, found_t = [], []
        # Queries in the order of their key: probes then walk the table in order.
        q_order = np.arange(len(keys)) if presorted else np.argsort(keys, kind="stable")
        for start in range(0, len(queries), _CHUNK):
            rows = q_order[start : start + _CHUNK]
            q, k = queries[rows], keys[rows]
            for mask in masks:
                probe = k ^ mask
                slot = probe & slot_mask
                counts = self.counts[slot]
                hit = np.flatnonzero(counts)  # most slots are empty: expand only the others
                if not len(hit):
                    continue
                counts = counts[hit]
                i = np.repeat(hit, counts)
                # the slot ranges laid end to end, without a Python loop
                ends = np.cumsum(counts)
                first = offsets[slot[hit]]
                pos = np.repeat(first - ends + counts, counts) + np.arange(int(ends[-1]))
                keep = self.sorted_keys[pos] == probe[i]
                keep &= np.bitwise_count(q[i] ^ sorted_codes[pos]) <= max_distance
                found_q.append(rows[i[keep]])
                found_t.append(order[pos[keep]])
        if not found_q:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(found_q), np.concatenate(found_t)


class HammingIndex:
    """The codes of one set, ready to be searched by another (or by itself)."""

    def __init__(self, codes: np.ndarray, bands: int = 3):
        self.codes = np.ascontiguousarray(codes, dtype=np.uint64)
        self.bands = band_edges(bands)
        self.tables = [
            BandTable(self.codes, band_keys(self.codes, lo, hi), hi - lo) for lo, hi in self.bands
        ]

    def search(
        self, queries: np.ndarray, max_distance: int, radius: int | None = None
    ) -> np.ndarray:
        """(query row, index row) pairs within max_distance, as an (m, 2) int64 array: all of
        them with the default radius (max_distance // bands, the pigeonhole bound); with a
        smaller one, those that also agree to within `radius` bits on some band."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        n = len(self.codes)
        radius = max_distance // len(self.bands) if radius is None else radius
        found = []
        for (lo, hi), table in zip(self.bands, self.tables, strict=True):
            masks = flip_masks(hi - lo, radius)
            q, t = table.probe(queries, band_keys(queries, lo, hi), masks, max_distance)
            found.append(q * n + t)
        pairs = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
        return np.stack([pairs // n, pairs % n], axis=1)


def near_pairs(codes: np.ndarray, max_distance: int, bands: int = 3) -> np.ndarray:
    """All (i, j), i < j, with Hamming(codes[i], codes[j]) <= max_distance."""
    pairs = HammingIndex(codes, bands).search(codes, max_distance)
    return pairs[pairs[:, 0] < pairs[:, 1]]


def brute_force_pairs(codes: np.ndarray, max_distance: int) -> np.ndarray:
    """The all-pairs reference (quadratic): for tests and as the benchmark's baseline."""
    codes = np.asarray(codes, dtype=np.uint64)
    out = []
    for i in range(len(codes) - 1):
        d = np.bitwise_count(codes[i + 1 :] ^ codes[i])
        j = np.nonzero(d <= max_distance)[0] + i + 1
        out.append(np.stack([np.full(len(j), i), j], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)
