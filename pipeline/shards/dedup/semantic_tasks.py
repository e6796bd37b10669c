"""Semantic dedup over a crawl of any size: embed per part, cluster once, dedup per cluster.

    embed     per scan part    the image embeddings of the rows every other step kept
    cluster   one task         k-means on a sample of at most SAMPLE embeddings
    assign    per scan part    each embedding's cluster, bucketed by cluster
    dedup     per bucket       `semantic.cluster_dups` inside each of its clusters

Only rows the filters, decontamination and image/caption dedup left are embedded: a copy
already dropped needs no second reason. The one-process reference (`reference`) runs the same
embedding and clustering on the whole crawl and must decide the same rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.core.vocab import SUCCESS
from openwit.pipeline.shards.buckets import read_bucket, row_of, write_buckets
from openwit.pipeline.shards.dedup.semantic import (
    SemDedupConfig,
    cluster_dups,
    fit_centroids,
    nearest,
)
from openwit.pipeline.shards.model_score import embedding_column, image_embedder
from openwit.pipeline.shards.place import DUPS
from openwit.pipeline.shards.route import cut_reasons
from openwit.pipeline.shards.scan import EMBEDDINGS, checkpoint_id
from openwit.pipeline.shards.shuffle import read_images

KIND = "semantic_dup"
SAMPLE = 200_000  # k-means sees at least this many rows (all of a smaller crawl) ...
PER_CENTROID = 64  # ... and this many per centroid (faiss wants 39 to 256)
_COLUMNS = ["key", "status", "filter_reason", "model_score", "contaminated_by"]
_IMAGE = ["crawl_shard", "image_offset", "image_size"]


def candidates(part: Path, number: int, cutoff: float | None, dup_ids: np.ndarray) -> pa.Table:
    """The part's rows every earlier step kept: (id, key, where the image lies)."""
    t = pq.read_table(part, columns=_COLUMNS + _IMAGE)
    ids = (np.int64(number) << 32) | np.arange(t.num_rows, dtype=np.int64)
    reason = cut_reasons(t.column("filter_reason"), t.column("model_score"), cutoff)
    dirty = pc.fill_null(pc.greater(pc.list_value_length(t.column("contaminated_by")), 0), False)
    keep = pc.and_(pc.equal(t.column("status"), SUCCESS), pc.is_null(reason))
    keep = pc.and_(keep, pc.invert(dirty)).to_numpy(zero_copy_only=False)
    keep &= ~np.isin(ids, dup_ids)
    return (
        t.filter(pa.array(keep)).select(["key", *_IMAGE]).append_column("id", pa.array(ids[keep]))
    )


def embed_part(
    rows: pa.Table, crawl: str, cfg: SemDedupConfig, part: Path | None = None
) -> pa.Table:
    """(id, key, embedding) of each row: the scan's own embedding when it scored with this
    checkpoint (`part`'s EMBEDDINGS file), else embedded here, its image read from the
    crawl's tar by offset."""
    local = row_of(rows.column("id").to_numpy())
    found, emb = stored_rows(part, cfg.checkpoint, local)
    emb = fill_in(
        emb,
        found,
        rows,
        crawl,  # a scan part is one crawl shard
        lambda images: image_embedder(cfg.checkpoint).image_embeddings(images, cfg.batch_size),
    )
    embedding = embedding_column(emb)
    return pa.table({"id": rows.column("id"), "key": rows.column("key"), "embedding": embedding})


def fill_in(emb: np.ndarray | None, found: np.ndarray, rows: pa.Table, crawl: str, embed):
    """`emb` with the rows `found` lacks embedded from their images, read from the crawl's
    tars by offset (`embed(images)`; not called when nothing is missing). `emb` None: no
    row has one, and the result is `embed`'s (n, dim), (0, dim) for no rows."""
    if emb is not None and found.all():
        return emb
    todo = np.flatnonzero(~found)
    new = embed(read_images(crawl, rows.take(todo)))
    if emb is None:
        return new
    emb[todo] = new
    return emb


def stored_rows(
    part: Path | None, checkpoint: str | None, local: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """(found, embeddings) of the scan part's rows `local`, where its scan kept an embedding
    made by `checkpoint`; embeddings is None when the part keeps none of that model."""
    found = np.zeros(len(local), bool)
    stored = stored_embeddings(part, checkpoint) if part is not None else None
    if stored is None or not len(stored[0]):
        return found, None
    at = np.minimum(np.searchsorted(stored[0], local), len(stored[0]) - 1)
    found = stored[0][at] == local
    emb = np.zeros((len(local), stored[1].shape[1]), np.float32)
    emb[found] = stored[1][at[found]]
    return found, emb


def stored_embeddings(part: Path, checkpoint: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, embeddings) the scan of `part` kept, sorted by row, if `checkpoint` made them."""
    path = part.parent / EMBEDDINGS / part.name
    if checkpoint is None or not path.is_file():
        return None
    t = pq.read_table(path)
    if (t.schema.metadata or {}).get(b"checkpoint", b"").decode() != checkpoint_id(checkpoint):
        return None
    t = t.sort_by("row")
    return t.column("row").to_numpy().astype(np.int64), matrix(t)


def matrix(t: pa.Table) -> np.ndarray:
    col = t.column("embedding").combine_chunks()
    dim = col.type.list_size
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32)


def sample(ids: np.ndarray, total: int, limit: int = SAMPLE) -> np.ndarray:
    """Which rows k-means sees: all of up to `limit`, else about `limit` chosen by a hash of
    the id, so the sample does not depend on how the crawl was split into parts."""
    if total <= limit:
        return np.ones(len(ids), bool)
    h = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(11)
    return h < np.uint64(int(limit / total * 2**53))


def sample_size(k: int) -> int:
    """How many rows k-means needs for k centroids: at 400M rows (k ~ 14,000) about 900,000,
    350 MB of 96-d float32 in the one clustering task."""
    return max(SAMPLE, PER_CENTROID * k)


def centroids(files_or_tables: list, cfg: SemDedupConfig) -> np.ndarray:
    """k-means over the sample, in id order (the same input from any partitioning); reads
    one part at a time, keeping only its sampled rows."""

    def rows(x) -> int:
        return x.num_rows if isinstance(x, pa.Table) else pq.read_metadata(x).num_rows

    total = sum(rows(x) for x in files_or_tables)
    if total == 0:
        return np.zeros((0, 0), np.float32)
    k = cfg.clusters or max(1, round(np.sqrt(total / 2)))
    limit = sample_size(k)
    picked = []
    for x in files_or_tables:
        t = x if isinstance(x, pa.Table) else pq.read_table(x)
        picked.append(t.filter(pa.array(sample(t.column("id").to_numpy(), total, limit))))
    t = pa.concat_tables(picked).sort_by("id")
    return fit_centroids(matrix(t), k, cfg.iterations, cfg.seed)


def assign(t: pa.Table, c: np.ndarray, buckets: int) -> pa.Table:
    cluster = nearest(matrix(t), c)
    return t.append_column("cluster", pa.array(cluster)).append_column(
        "bucket", pa.array(cluster % buckets, pa.int32())
    )


def dedup_clusters(t: pa.Table, c: np.ndarray, cfg: SemDedupConfig) -> pa.Table:
    """(id, dup_kind, dup_of key) for every semantic duplicate among `t`'s clusters."""
    if t.num_rows == 0:
        return DUPS.empty_table()
    t = t.sort_by("id")
    ids, x, cl = t.column("id").to_numpy(), matrix(t), t.column("cluster").to_numpy()
    by_cluster = np.argsort(cl, kind="stable")  # one sort, not a scan of the rows per cluster
    starts = np.flatnonzero(np.diff(cl[by_cluster], prepend=-1))
    dup_row, of_row = [], []
    for members in np.split(by_cluster, starts[1:]):
        dup = cluster_dups(x[members], c[cl[members[0]]], ids[members], cfg.threshold)
        dup_row.append(members[dup >= 0])
        of_row.append(members[dup[dup >= 0]])
    dup_row, of_row = np.concatenate(dup_row), np.concatenate(of_row)
    order = np.argsort(dup_row, kind="stable")  # rows are in id order
    of = t.column("key").take(pa.array(of_row[order]))
    return pa.table([ids[dup_row[order]], [KIND] * len(order), of], schema=DUPS)


# -- the partitioned steps (partitioned.run_task calls these) -----------------------------
def embed_step(part: Path, number: int, d: Path, crawl: str, cutoff, cfg: SemDedupConfig) -> None:
    path = d / "sem_embed" / f"{number:05d}.parquet"
    if not path.is_file():
        # Only this part's duplicates: its ids are one range (the part's number, then row).
        span = [("id", ">=", number << 32), ("id", "<", (number + 1) << 32)]
        dups = pq.read_table(d / "dups.parquet", columns=["id"], filters=span)
        rows = candidates(part, number, cutoff, dups.column("id").to_numpy())
        storage.write_parquet(embed_part(rows, crawl, cfg, part), path)


def cluster_step(d: Path, cfg: SemDedupConfig) -> None:
    path = d / "sem_centroids.npy"
    if not path.is_file():
        files = sorted((d / "sem_embed").glob("*.parquet"))
        with storage.atomic_output(path) as f:
            np.save(f, centroids(files, cfg))


def assign_step(number: int, d: Path, buckets: int) -> None:
    path = d / "sem_assigned" / f"{number:05d}.arrow"
    if not path.is_file():
        t = pq.read_table(d / "sem_embed" / f"{number:05d}.parquet")
        write_buckets(assign(t, np.load(d / "sem_centroids.npy"), buckets), "bucket", path)


def dedup_step(bucket: int, d: Path, cfg: SemDedupConfig) -> None:
    path = d / "sem_dups" / f"{bucket:05d}.parquet"
    if not path.is_file():
        files = sorted((d / "sem_assigned").glob("*.arrow"))
        t = read_bucket(files, "bucket", bucket)
        storage.write_parquet(dedup_clusters(t, np.load(d / "sem_centroids.npy"), cfg), path)


def reference(parts: list[Path], crawl: str, cutoff, dup_ids: np.ndarray, cfg) -> pa.Table:
    """The one-process decision: every part embedded here, clustered, deduped at once."""
    numbers = [int(p.stem) for p in parts]
    tables = [
        embed_part(candidates(p, n, cutoff, dup_ids), crawl, cfg, p)
        for p, n in zip(parts, numbers, strict=True)
    ]
    c = centroids(tables, cfg)
    rows = pa.concat_tables(tables)
    return dedup_clusters(assign(rows, c, 1) if rows.num_rows else rows, c, cfg)
