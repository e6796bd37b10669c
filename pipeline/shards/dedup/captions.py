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
