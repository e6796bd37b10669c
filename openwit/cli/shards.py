"""`openwit shards` and `openwit sql`: the second half of the corpus and the queries over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from openwit.cli import options
from openwit.cli.ui import console, fail, table
from openwit.core.vocab import Status


def shards(
    crawl: Annotated[Path, typer.Option(help="A finished crawl.")] = Path("data/crawl"),
    out: Annotated[
        str, typer.Option(help="Output folder or URL (s3://…: staged, then uploaded).")
    ] = "data/shards",
    eval_dir: Annotated[
        Path | None,
        typer.Option(
            help="Evaluation image folders (<set>/<label>/*.jpg) to decontaminate "
            "against; default: the sandbox's, when the crawl was of the sandbox."
        ),
    ] = None,
    shard_size: Annotated[int, typer.Option(help="Samples per final shard.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the global shuffle.")] = 0,
    languages: Annotated[str, typer.Option(help="Languages to keep, comma-separated.")] = "en",
    lang_min_score: Annotated[float, typer.Option(help="Min P(language) (top 3).")] = 0.1,
    min_side: Annotated[int, typer.Option(help="Min shortest image side (DataComp: 200).")] = 64,
    max_aspect: Annotated[float, typer.Option(help="Max aspect ratio.")] = 3.0,
    phash_distance: Annotated[int, typer.Option(help="Near-dup pHash threshold (of 64).")] = 8,
    thumb_rms: Annotated[float, typer.Option(help="Near-dup thumbnail threshold.")] = 0.35,
    phash_bands: Annotated[
        int, typer.Option(help="pHash search bands: 3 finds all pairs; 2 is linear at 400M.")
    ] = 3,
    band_radius: Annotated[
        int | None, typer.Option(help="Bits a band may differ by (default: all pairs; 2 bands: 2).")
    ] = None,
    score_with: Annotated[
        Path | None,
        typer.Option(help="An OpenWIT checkpoint: score each pair by image-text cosine."),
    ] = None,
    min_score: Annotated[
        float | None, typer.Option(help="With --score-with: keep >= this.")
    ] = None,
    top_percent: Annotated[
        float | None, typer.Option(help="With --score-with: keep the best k% of the crawl.")
    ] = None,
    caption_dedup: Annotated[
        float | None,
        typer.Option(help="Also drop near-duplicate captions at this Jaccard (off; try 0.8)."),
    ] = None,
    semdedup: Annotated[
        float | None,
        typer.Option(help="Semantic dedup (SemDeDup) above this image cosine (off; try 0.95)."),
    ] = None,
    semdedup_with: Annotated[
        Path | None,
        typer.Option(help="The checkpoint whose image tower embeds (default: --score-with's)."),
    ] = None,
    semdedup_clusters: Annotated[
        int | None, typer.Option(help="k-means clusters (default: about sqrt(rows / 2)).")
    ] = None,
    filters: Annotated[
        bool, typer.Option(help="DataComp's basic filters (--no-filters: ablations).")
    ] = True,
    dedup: Annotated[
        bool, typer.Option(help="Exact and near-duplicate images (--no-dedup: no hashes at all).")
    ] = True,
    decontaminate: Annotated[
        bool, typer.Option(help="Drop copies of evaluation images (--no-decontaminate).")
    ] = True,
    balance: Annotated[
        int | None,
        typer.Option(help="MetaCLIP balancing here, at this cap per entry (a crawl run --t huge)."),
    ] = None,
    max_samples: Annotated[
        int | None, typer.Option(help="Keep a uniform subsample of at most this many.")
    ] = None,
    rows_per_task: Annotated[
        int, typer.Option(help="Rows (or image hashes) one decision task holds.")
    ] = 2_000_000,
    decide_memory: Annotated[
        str | None, typer.Option(help="DuckDB's memory limit where it links duplicates, e.g. 4GB.")
    ] = None,
    one_process_decide: Annotated[
        bool, typer.Option(help="Decide in this process: the reference the tasks must equal.")
    ] = False,
    executor: options.Executor = "ray",
    ray_address: options.RayAddress = None,
    task_cpus: options.TaskCpus = 1.0,
    task_memory: options.TaskMemory = None,
) -> None:
    """Filter, dedupe and decontaminate a crawl into shuffled WebDataset shards, with
    candidates.parquet, DuckDB views and report.html."""
    from openwit.pipeline.shards import filters as F
    from openwit.pipeline.shards.dedup.captions import CaptionDedupConfig
    from openwit.pipeline.shards.dedup.images import DedupConfig
    from openwit.pipeline.shards.dedup.semantic import SemDedupConfig
    from openwit.pipeline.shards.job import ShardsConfig, ShardsConfigMismatch, run
    from openwit.pipeline.shards.model_score import ModelScoreConfig
    from openwit.pipeline.shards.scan import ScanConfig

    try:
        cfg = ShardsConfig(
            crawl=str(crawl),
            out=out,
            eval_dir=str(eval_dir) if eval_dir else None,
            shard_size=shard_size,
            seed=seed,
            scan=ScanConfig(
                image=F.ImageFilter(min_side=min_side, max_aspect=max_aspect),
                language=F.LanguageFilter(
                    languages=tuple(x.strip() for x in languages.split(",") if x.strip()),
                    min_score=lang_min_score,
                ),
                filters=filters,
                fingerprints=dedup,
                balance_t=balance,
                model_score=ModelScoreConfig(
                    checkpoint=str(score_with) if score_with else None,
                    min_score=min_score,
                    top_percent=top_percent,
                ),
            ),
            dedup=DedupConfig(
                phash_max_distance=phash_distance,
                thumb_max_rms=thumb_rms,
                phash_bands=phash_bands,
                band_radius=band_radius,
            ),
            captions=CaptionDedupConfig(
                enabled=caption_dedup is not None, threshold=caption_dedup or 0.8
            ),
            semdedup=SemDedupConfig(
                threshold=semdedup,
                checkpoint=str(semdedup_with or score_with)
                if semdedup_with or score_with
                else None,
                clusters=semdedup_clusters,
                seed=seed,
            ),
            decontaminate=decontaminate and dedup,
            max_samples=max_samples,
            partitioned=not one_process_decide,
            rows_per_task=rows_per_task,
            decide_memory=decide_memory,
        )
        _note_without_tower(cfg.semdedup, score_with)
        summary = run(cfg, options.executor_factory(executor, ray_address, task_cpus, task_memory))
    except (ShardsConfigMismatch, FileNotFoundError, ValueError) as e:
        fail(str(e))
    if summary.get("already_complete"):
        console.print(f"{out} is already complete; nothing to do (delete it to run again)")
    if "published" in summary:
        p = summary["published"]
        console.print(f"uploaded {p['files']} files to {p['url']} (working copy: {p['staging']})")
    rows = {
        "candidates": summary["candidates"],
        Status.KEPT: summary[Status.KEPT],
        "shards": summary["shards"],
    }
    rows |= summary["outcomes"]
    rows |= {f"{k} (s)": v for k, v in summary["seconds"].items()}
    console.print(table(f"shards → {out}", rows))
    for e in summary["errors"]:
        console.print(f"[yellow]skipped:[/yellow] {e}", soft_wrap=True)
    if "sandbox_audit" in summary:
        console.print(table("against the sandbox's ground truth", summary["sandbox_audit"]))
    console.print(f"report: {out}/report.html   summary: {out}/_summary.json")


def _note_without_tower(sem, score_with: Path | None) -> None:
    """Semantic dedup embedding with a checkpoint that has no ONNX tower beside it: say what
    it costs and how to export one (a checkpoint from before the trainer wrote them)."""
    from openwit.core.image_tower import path_for

    embeds = sem.enabled and sem.checkpoint and sem.checkpoint != str(score_with)
    if embeds and not path_for(sem.checkpoint).is_file():
        console.print(
            f"[yellow]note:[/yellow] no image tower beside {sem.checkpoint}: each worker "
            "rebuilds the model with open_clip (seconds each); `python -m "
            f"openwit.core.image_tower {sem.checkpoint}` exports one",
            soft_wrap=True,
        )


def sql(
    query: Annotated[str, typer.Argument(help="SQL over the views (see `--help`).")],
    shards: Annotated[str, typer.Option(help="A finished shards folder or URL.")] = "data/shards",
    queries: Annotated[
        str | None, typer.Option(help="Query list for entry names (default: the crawl's).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Run SQL over the shards' tables. Views: candidates, samples, drops_by_reason, entries,
    entry_balance, contamination."""
    import csv
    import sys

    from openwit.core import storage
    from openwit.pipeline.shards import sql as views

    if not storage.exists(f"{shards}/candidates.parquet"):
        fail(f"{shards} holds no candidates.parquet; run `make shards` first")
    if queries is None and storage.exists(f"{shards}/_config.json"):
        with storage.open_input(f"{shards}/_config.json") as f:
            queries = json.load(f)["config"].get("queries")
        if queries and not storage.exists(queries):
            queries = None  # made on another machine: entries show without their names
    try:
        con = views.connect(shards, queries)
        columns, rows = views.query(con, query)
    except Exception as e:  # noqa: BLE001 - DuckDB's own message names the problem
        fail(f"{' '.join(str(e).split())}")
    if fmt == "json":
        for r in rows:
            print(json.dumps(dict(zip(columns, r, strict=True)), default=str, ensure_ascii=False))
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(*columns)
        for r in rows:
            t.add_row(*("" if v is None else str(v) for v in r))
        Console().print(t)


def register(app: typer.Typer) -> None:
    app.command()(shards)
    app.command()(sql)
