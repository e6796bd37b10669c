"""The shards job's decision as partitioned tasks: the driver holds a few numbers per task,
never a row.

    route     per scan part    rank and exact keys, by bucket                route.py
    exact     per hash bucket  links between rows with equal URL or pixels   dedup/exact.py
    exact_of  one DuckDB task  exact groups and each copy's survivor         dedup/link.py
    route_bands per scan part  the survivors' band hashes, by bucket         route.py
    bands     per band bucket  near-duplicate candidates from the hashes     dedup/bands.py
    hop       per scan part    each candidate with its query's thumbnail     dedup/confirm.py
    confirm   per scan part    the candidates whose thumbnails agree         dedup/confirm.py
    link      one DuckDB task  near groups and each copy's survivor          dedup/link.py
    captions  per scan part,   with --caption-dedup: the captions left, by   caption_tasks.py
      then per hash bucket,    MinHash band; pairs confirmed by Jaccard;
      then one DuckDB task     linked as the images were
    sem_*     per part, once,  with --semdedup: embed what is left, k-means  semantic_tasks.py
              per part, per    on a sample, assign clusters, SemDeDup
              cluster bucket   inside each cluster
    decide    per scan part    each row's drop reason; kept rows by hash     place.py
    assign    per hash range   shard and position of each kept row           place.py

Each task writes one file (atomically) and skips its work when the file exists, so a run
killed anywhere and run again finishes with the same outputs. The decisions are those of
the one-process reference (`decide.py`), row for row.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.pipeline.shards import place
from openwit.pipeline.shards.buckets import (
    SUFFIX,
    bucket_counts,
    bucket_files,
    read_bucket,
    write_buckets,
)
from openwit.pipeline.shards.dedup import bands, caption_tasks, confirm, exact, link
from openwit.pipeline.shards.dedup import semantic_tasks as sem
from openwit.pipeline.shards.dedup.captions import CaptionDedupConfig
from openwit.pipeline.shards.dedup.images import VIEWS, DedupConfig
from openwit.pipeline.shards.dedup.semantic import SemDedupConfig
from openwit.pipeline.shards.model_score import load_seconds
from openwit.pipeline.shards.route import (
    Layout,
    band_pieces,
    band_radius,
    piece_bits,
    route_bands,
    route_part,
)


@dataclass(frozen=True)
class Task:
    out: str  # the job's output folder
    step: str
    index: int  # the part number, bucket or group this task owns
    part: str | None = None  # its scan part, for the steps that read one
    cutoff: float | None = None
    layout: Layout | None = None
    dedup: DedupConfig | None = None
    seed: int = 0
    shard_size: int = 0
    offset: int = 0  # assign: kept rows in the hash ranges before this one
    memory: str | None = None  # link: DuckDB's memory limit
    captions: CaptionDedupConfig | None = None  # near-duplicate captions, when enabled
    semantic: SemDedupConfig | None = None  # semantic dedup, when enabled
    crawl: str = ""  # the crawl's folder: semantic dedup reads its images


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet"))


def run_task(t: Task) -> dict:
    """Run one task (or find its output already written); returns what the driver sums."""
    out, d, i = Path(t.out), Path(t.out) / "_decide", t.index
    name, arrow = f"{i:05d}.parquet", f"{i:05d}{SUFFIX}"
    result: dict = {}
    if t.step == "route":
        if not (d / "exact" / arrow).is_file():
            route_part(Path(t.part), i, d, t.cutoff, t.layout, t.dedup)
    elif t.step == "exact":
        if not (d / "exact_links" / name).is_file():
            links = exact.exact_links(read_bucket(bucket_files(d / "exact"), "bucket", i))
            storage.write_parquet(links, d / "exact_links" / name)
    elif t.step == "exact_of":
        if not (d / "exact_of.parquet").is_file():
            rank, links = _files(d / "rank"), _files(d / "exact_links")
            link.link_exact(rank, links, d / "exact_of.parquet", t.memory)
    elif t.step == "route_bands":
        if not (d / "bands" / arrow).is_file():
            route_bands(Path(t.part), i, d, t.layout, t.dedup)
    elif t.step == "bands":
        if not (d / "candidates" / arrow).is_file():
            entries = read_bucket(bucket_files(d / "bands"), "bucket", i)
            cfg = t.dedup
            found = bands.band_candidates(
                entries,
                i,
                t.layout.band_bits,
                band_pieces(cfg),
                band_radius(cfg),
                cfg.phash_max_distance,
            )
            write_buckets(found, "qpart", d / "candidates" / arrow)
    elif t.step == "hop":
        if not (d / "hop" / arrow).is_file():
            pairs = read_bucket(bucket_files(d / "candidates"), "qpart", i)
            write_buckets(confirm.attach_query_thumbs(pairs, t.part), "ipart", d / "hop" / arrow)
    elif t.step == "confirm":
        if not (d / "near" / name).is_file():
            hops = read_bucket(bucket_files(d / "hop"), "ipart", i)
            storage.write_parquet(confirm.confirm_pairs(hops, t.part, t.dedup), d / "near" / name)
    elif t.step == "link":
        image_dups = d / ("image_dups.parquet" if t.captions else "dups.parquet")
        if not image_dups.is_file():
            rank, near = _files(d / "rank"), _files(d / "near")
            link.link(rank, d / "exact_of.parquet", near, image_dups, t.memory)
    elif t.step == "captions":
        if not (d / "caption_slices" / arrow).is_file():
            caption_tasks.route_captions(
                Path(t.part),
                i,
                d / "image_dups.parquet",
                d / "caption_slices" / arrow,
                t.layout.exact_buckets,
                t.captions,
            )
    elif t.step == "caption_pairs":
        if not (d / "caption_pairs" / name).is_file():
            slices = read_bucket(bucket_files(d / "caption_slices"), "bucket", i)
            pairs = caption_tasks.caption_pairs(slices, t.captions)
            storage.write_parquet(pairs, d / "caption_pairs" / name)
    elif t.step == "caption_link":
        if not (d / "dups.parquet").is_file():
            link.link_captions(
                _files(d / "rank"),
                d / "image_dups.parquet",
                _files(d / "caption_pairs"),
                d / "dups.parquet",
                t.memory,
            )
    elif t.step == "sem_embed":
        before = load_seconds()
        sem.embed_step(Path(t.part), i, d, t.crawl, t.cutoff, t.semantic)
        result = {"model_load": load_seconds() - before}
    elif t.step == "sem_cluster":
        sem.cluster_step(d, t.semantic)
    elif t.step == "sem_assign":
        sem.assign_step(i, d, t.layout.exact_buckets)
    elif t.step == "sem_dedup":
        sem.dedup_step(i, d, t.semantic)
    elif t.step == "decide":
        groups = t.layout.groups
        if not (d / "placed" / arrow).is_file():
            dups = [d / "dups.parquet", *_files(d / "sem_dups")]
            place.decide_part(Path(t.part), i, out, t.cutoff, dups, groups, t.seed)
        dirty = pq.read_table(out / "_decisions" / name, columns=["contaminated_by"])
        result = {
            "counts": bucket_counts(d / "placed" / arrow, "group", groups).tolist(),
            "contaminated": dirty.column(0).combine_chunks().flatten().unique().to_pylist(),
        }
    elif t.step == "assign":
        if not (out / "_placement" / name).is_file():
            place.assign_group(bucket_files(d / "placed"), i, t.offset, out, t.shard_size)
    else:
        raise ValueError(f"unknown step {t.step!r}")
    # The worker's peak so far: an upper bound on this task's, for the memory budget.
    return {**result, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def decide(
    parts: list[Path],
    out: Path,
    dedup: DedupConfig,
    cutoff: float | None,
    executor,
    seed: int,
    shard_size: int,
    rows_per_task: int,
    memory: str | None = None,
    captions: CaptionDedupConfig | None = None,
    semantic: SemDedupConfig | None = None,
    crawl: str = "",
) -> dict:
    """Run every step; returns kept count, hash-range counts, the evaluation images found
    copied, the layout, and each step's seconds and highest task peak."""
    rows = sum(pq.read_metadata(p).num_rows for p in parts)
    views = len(VIEWS) if dedup.crop_views else 1
    layout = Layout.of(rows, views, rows_per_task, piece_bits(dedup))
    numbers = [int(p.stem) for p in parts]
    peaks: dict[str, int] = {}
    seconds: dict[str, float] = {}
    model_load = 0.0

    def step(name: str, specs: list[Task]) -> list[dict]:
        t0 = time.time()
        results = [r for _, r in executor.map(run_task, specs, name)]
        peaks[name] = max((r["peak_rss"] for r in results), default=0)
        seconds[name] = round(time.time() - t0, 2)
        return results

    base = {"out": str(out), "layout": layout, "dedup": dedup, "cutoff": cutoff}
    per_part = [dict(base, index=n, part=str(p)) for n, p in zip(numbers, parts, strict=True)]
    step("route", [Task(step="route", **k) for k in per_part])
    step("exact", [Task(step="exact", index=b, **base) for b in range(layout.exact_buckets)])
    step("exact_of", [Task(step="exact_of", index=0, memory=memory, **base)])
    step("route_bands", [Task(step="route_bands", **k) for k in per_part])
    buckets = len(band_pieces(dedup)) << layout.band_bits
    step("bands", [Task(step="bands", index=b, **base) for b in range(buckets)])
    step("hop", [Task(step="hop", **k) for k in per_part])
    step("confirm", [Task(step="confirm", **k) for k in per_part])
    captions = captions if captions is not None and captions.enabled else None
    step("link", [Task(step="link", index=0, memory=memory, captions=captions, **base)])
    if captions is not None:
        step("captions", [Task(step="captions", captions=captions, **k) for k in per_part])
        step(
            "caption_pairs",
            [
                Task(step="caption_pairs", index=b, captions=captions, **base)
                for b in range(layout.exact_buckets)
            ],
        )
        step("caption_link", [Task(step="caption_link", index=0, memory=memory, **base)])
    if semantic is not None and semantic.enabled:
        sem_base = dict(base, semantic=semantic, crawl=crawl)
        embedded = step(
            "sem_embed", [Task(step="sem_embed", **{**k, **sem_base}) for k in per_part]
        )
        # The workers load the model side by side: the longest load is the wall time it took.
        model_load = max((r["model_load"] for r in embedded), default=0.0)
        step("sem_cluster", [Task(step="sem_cluster", index=0, **sem_base)])
        step("sem_assign", [Task(step="sem_assign", **{**k, **sem_base}) for k in per_part])
        buckets = range(layout.exact_buckets)
        step("sem_dedup", [Task(step="sem_dedup", index=b, **sem_base) for b in buckets])
    decided = step("decide", [Task(step="decide", seed=seed, **k) for k in per_part])
    counts = np.sum([r["counts"] for r in decided], axis=0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    step(
        "assign",
        [
            Task(step="assign", index=g, offset=int(offsets[g]), shard_size=shard_size, **base)
            for g in range(layout.groups)
        ],
    )
    return {
        "kept": int(offsets[-1]),
        "group_counts": counts.tolist(),
        "contaminated": sorted({e for r in decided for e in r["contaminated"]}),
        "layout": layout,
        "peaks": peaks,
        "seconds": seconds,
        "model_load": round(model_load, 2),  # of seconds["sem_embed"]: the embedder's load
    }


def placement_files(out: Path, group_counts: list[int], shard_size: int) -> dict[int, list[Path]]:
    """Each final shard's placement files: the hash ranges its ranks fall in."""
    offsets = np.concatenate([[0], np.cumsum(group_counts)])
    total = int(offsets[-1])
    files: dict[int, list[Path]] = {}
    for s in range(-(-total // shard_size)):
        lo, hi = s * shard_size, min((s + 1) * shard_size, total)
        first = int(np.searchsorted(offsets, lo, side="right")) - 1
        last = int(np.searchsorted(offsets, hi - 1, side="right")) - 1
        files[s] = [
            out / "_placement" / f"{g:05d}.parquet"
            for g in range(first, last + 1)
            if group_counts[g]
        ]
    return files
