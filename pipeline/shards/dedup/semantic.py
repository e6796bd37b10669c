"""Semantic deduplication (SemDeDup, Abbas et al. 2023): pairs that mean the same thing.

Near-duplicate hashing finds copies of one picture; it cannot see the same subject drawn again
(another render of the same concepts in the same composition). SemDeDup clusters image
embeddings with k-means and, inside each cluster, drops every item whose cosine similarity to
an item ranked before it exceeds `threshold`. Members are ranked by distance to their
centroid, farthest first, so the survivor of a group is its least prototypical member (the
paper's choice: keeping the prototypes keeps the easy examples). Comparisons stay inside a
cluster, so the cost is the sum of squared cluster sizes, not N².

k-means runs on faiss (`faiss-cpu`) when it is installed, else on NumPy (exact Lloyd
iterations, the same answer up to float rounding, slower past a few hundred thousand rows).
The partitioned tasks around this step: `semantic_tasks.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SemDedupConfig:
    threshold: float | None = None  # cosine similarity above which two are one (1 - ε); off
    checkpoint: str | None = None  # the OpenWIT checkpoint whose image tower embeds
    clusters: int | None = None  # None: about sqrt(N / 2), at least 1
    iterations: int = 20
    seed: int = 0
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.threshold is None:
            return
        if not 0 < self.threshold <= 1:
            raise ValueError(f"--semdedup {self.threshold}: give a cosine threshold in (0, 1]")
        if self.clusters is not None and self.clusters < 1:
            raise ValueError(f"--semdedup-clusters {self.clusters}: give >= 1")

    def check_model(self) -> None:
        """A job that embeds needs a checkpoint; the step over given embeddings does not."""
        if not self.enabled:
            return
        if not self.checkpoint:
            raise ValueError("--semdedup needs --semdedup-with CHECKPOINT (an OpenWIT checkpoint)")
        if not Path(self.checkpoint).is_file():
            raise ValueError(
                f"no checkpoint at {self.checkpoint}; train one with `make train` "
                "(data/train/*/checkpoints)"
            )

    @property
    def enabled(self) -> bool:
        return self.threshold is not None


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest(x: np.ndarray, c: np.ndarray, rows: int = 4096) -> np.ndarray:
    """Each row's nearest centroid, `rows` at a time (a part against ~14,000 centroids at
    400M would be a 10,000 x 14,000 matrix at once)."""
    out = np.zeros(len(x), np.int32)
    for i in range(0, len(x), rows):
        out[i : i + rows] = np.argmax(x[i : i + rows] @ c.T, axis=1)
    return out


def kmeans(x: np.ndarray, k: int, iterations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: (unit centroids k×d, each row's cluster)."""
    c = fit_centroids(x, k, iterations, seed)
    return c, nearest(x, c).astype(np.int64)  # a row's length does not change its nearest


def fit_centroids(x: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    """Spherical k-means' unit centroids (k×d) of the rows of `x`. The partitioned job
    assigns every row later, part by part, so the sample's own assignment is not made."""
    x = normalise(x)
    k = max(1, min(k, len(x)))
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        # One thread: OpenMP's reductions would make the centroids depend on the thread
        # count, and a Ray task must find the same ones as the one-process reference.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            km = faiss.Kmeans(x.shape[1], k, niter=iterations, seed=seed, spherical=True)
            km.train(np.ascontiguousarray(x))
        finally:
            faiss.omp_set_num_threads(threads)
        return normalise(km.centroids)
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iterations):
        assign = nearest(x, c)
        sums = np.zeros_like(c)
        np.add.at(sums, assign, x)
        empty = np.bincount(assign, minlength=k) == 0
        sums[empty] = c[empty]  # an empty cluster keeps its centroid
        c = normalise(sums)
    return c


BLOCK = 2048  # members compared at once: a block x block similarity tile, 16 MiB


def cluster_dups(
    x: np.ndarray, centroid: np.ndarray, ids: np.ndarray, threshold: float, block: int = BLOCK
):
    """Inside one cluster: for each member, the member it duplicates (its most similar
    earlier-ranked mate above `threshold`; the first-ranked of equals), or -1. Ranked
    farthest from the centroid first, ties by id, so the answer does not depend on the
    members' order. The similarities go tile by tile: a k-means cluster of a web crawl can
    hold a hundred thousand members, whose whole matrix would not fit in memory."""
    x = normalise(x)
    n = len(x)
    dup = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return dup
    # Row by row, not a matrix-vector product: BLAS kernels round a row by where it falls
    # in their blocks, and equal members must rank by id alone.
    order = np.lexsort((ids, -(1.0 - (x * centroid).sum(axis=1))))
    y = x[order]
    best = np.full(n, -np.inf, dtype=np.float32)
    best_row = np.full(n, -1, dtype=np.int64)
    for c0 in range(0, n, block):
        c1 = min(n, c0 + block)
        cols = np.arange(c0, c1)
        for r0 in range(0, c1 - 1, block):  # only members ranked before a column count
            r1 = min(c1, r0 + block)
            sim = y[r0:r1] @ y[c0:c1].T
            if r1 > c0:  # the tile on the diagonal: a member against itself or later ones
                sim[np.arange(r0, r1)[:, None] >= cols[None, :]] = -np.inf
            top = sim.argmax(axis=0)
            value = sim[top, cols - c0]
            better = value > best[c0:c1]  # strictly: an earlier tile's equal stays
            best[c0:c1][better] = value[better]
            best_row[c0:c1][better] = top[better] + r0
    hit = best > threshold
    dup[order[hit]] = order[best_row[hit]]
    return dup


def semantic_dups(embeddings: np.ndarray, cfg: SemDedupConfig) -> np.ndarray:
    """For each row of an in-memory matrix, the row it duplicates, or -1 for a survivor."""
    x = normalise(embeddings)
    dup = np.full(len(x), -1, dtype=np.int64)
    if len(x) < 2:
        return dup
    k = cfg.clusters or max(1, round(np.sqrt(len(x) / 2)))
    c, assign = kmeans(x, k, cfg.iterations, cfg.seed)
    ids = np.arange(len(x))
    for k in np.unique(assign):
        members = np.flatnonzero(assign == k)
        d = cluster_dups(x[members], c[k], ids[members], cfg.threshold)
        dup[members[d >= 0]] = members[d[d >= 0]]
    return dup
