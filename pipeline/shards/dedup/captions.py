"""Near-duplicate captions (optional, off by default): MinHash-LSH over character shingles.

Alt texts are short and repeat for good reasons ("red apple on a table" under two different
photos), so a repeated caption is not by itself a repeated pair. Measure on your data before
enabling (docs/shards.md shows what it would remove on the sandbox). Candidates come from
datasketch's LSH; each is confirmed with the exact Jaccard similarity of the shingle sets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaptionDedupConfig:
    enabled: bool = False
    threshold: float = 0.8  # Jaccard similarity of the shingle sets
    shingle: int = 5  # characters: words are too few in an alt text
    num_perm: int = 128


def shingles(text: str, n: int) -> set[bytes]:
    t = " ".join((text or "").lower().split())
    if len(t) <= n:
        return {t.encode()} if t else set()
    return {t[i : i + n].encode() for i in range(len(t) - n + 1)}


def near_caption_pairs(captions: list[str], cfg: CaptionDedupConfig) -> list[tuple[int, int]]:
    """(i, j), i < j, whose captions' shingle sets have Jaccard >= cfg.threshold."""
    from datasketch import MinHash, MinHashLSH

    sets = [shingles(c, cfg.shingle) for c in captions]
    live = [i for i, s in enumerate(sets) if s]
    hashes = MinHash.bulk([sets[i] for i in live], num_perm=cfg.num_perm)
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm)
    pairs = set()
    for i, h in zip(live, hashes, strict=True):
        for j in lsh.query(h):
            a, b = sets[i], sets[j]
            if len(a & b) >= cfg.threshold * len(a | b):
                pairs.add((j, i))
        lsh.insert(i, h)
    return sorted(pairs)


def band_slices(captions: list[str], cfg: CaptionDedupConfig) -> tuple[list[int], list[list]]:
    """The captions with shingles, and per band the bytes of each one's MinHash slice: two
    captions are LSH candidates when they share a slice in some band (as datasketch's
    MinHashLSH with the same threshold and permutations decides)."""
    from datasketch import MinHash, MinHashLSH

    sets = [shingles(c, cfg.shingle) for c in captions]
    live = [i for i, s in enumerate(sets) if s]
    hashes = MinHash.bulk([sets[i] for i in live], num_perm=cfg.num_perm) if live else []
    ranges = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm).hashranges
    return live, [[h.hashvalues[a:b].tobytes() for h in hashes] for a, b in ranges]


def confirmed_pairs(groups: list[list[tuple[int, str]]], cfg: CaptionDedupConfig) -> set:
    """(id, id) pairs, lower id first, from the members of each candidate group whose
    shingle sets have Jaccard >= cfg.threshold."""
    pairs = set()
    for members in groups:
        sets = [(i, shingles(c, cfg.shingle)) for i, c in members]
        for k, (i, a) in enumerate(sets):
            for j, b in sets[k + 1 :]:
                if len(a & b) >= cfg.threshold * len(a | b):
                    pairs.add((min(i, j), max(i, j)))
    return pairs
