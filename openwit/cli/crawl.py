"""`openwit crawl`: harvest, match, balance and download into shards (the sandbox by default)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from openwit.cli import options
from openwit.cli.queries import ensure_queries
from openwit.cli.sandbox import ensure_sandbox
from openwit.cli.ui import console
from openwit.cli.ui import fail as _fail
from openwit.cli.ui import table as _table
from openwit.core.vocab import Pool


def crawl(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="WARC files, folders, globs or fsspec URLs; none: crawl the sandbox web."
        ),
    ] = None,  # noqa: B008
    queries: Annotated[
        Path, typer.Option(help="Query list (folder, .parquet or metadata.json).")
    ] = Path("data/queries"),
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("data/crawl"),
    urls: Annotated[
        bool,
        typer.Option("--urls", help="Inputs are URL lists (Parquet/CSV/TSV/JSONL/TXT, .gz too)."),
    ] = False,
    wat: Annotated[
        bool, typer.Option("--wat", help="Inputs are WAT files (Common Crawl's metadata).")
    ] = False,
    list_preset: Annotated[
        str, typer.Option(help="URL-list schema: laion|datacomp|coyo|cc3m|cc12m|metaclip.")
    ] = "default",
    url_col: Annotated[
        str | None, typer.Option(help="URL column of a URL list (default: the preset's).")
    ] = None,
    caption_col: Annotated[
        str | None, typer.Option(help="Caption column of a URL list (default: the preset's).")
    ] = None,
    keep_columns: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated list columns carried to the output (img2dataset's "
            "save_additional_columns; default: the preset's)."
        ),
    ] = None,
    paths_prefix: Annotated[
        str | None,
        typer.Option(
            help="Prefix for the paths in a warc.paths.gz/wat.paths.gz listing "
            "(default https://data.commoncrawl.org/; s3://commoncrawl/ works too)."
        ),
    ] = None,
    resolve: Annotated[
        list[str] | None,
        typer.Option(help="HOST:PORT:ADDR[:PORT2], like curl: connect HOST there (repeatable)."),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(help="ADDR:PORT the address guard lets through (loopback mirrors)."),
    ] = None,
    allow_private_network: Annotated[
        bool, typer.Option(help="Let --allow name LAN/link-local addresses too (asked twice).")
    ] = False,
    offline: Annotated[
        bool, typer.Option(help="Reach only hosts in --resolve: no DNS, no IP literals.")
    ] = False,
    ca_bundle: Annotated[
        Path | None, typer.Option(help="PEM file of CAs to trust for HTTPS (else the system's).")
    ] = None,
    t: Annotated[
        int | None, typer.Option("--t", help="Max pairs per entry (default: the preset's).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Balancing seed.")] = 0,
    shard_size: Annotated[int, typer.Option(help="Samples per shard.")] = 1000,
    threads: Annotated[int, typer.Option(help="Download threads per task.")] = 64,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds per response (default: the preset's).")
    ] = None,
    host_rps: Annotated[
        float | None, typer.Option(help="Requests/s per host (default: the preset's).")
    ] = None,
    user_agent: Annotated[str | None, typer.Option(help="User-Agent, with a contact URL.")] = None,
    image_size: Annotated[int, typer.Option(help="Target size (see --resize-mode).")] = 256,
    resize_mode: Annotated[
        str, typer.Option(help="no|keep_ratio|keep_ratio_largest|center_crop|border")
    ] = "keep_ratio",
    executor: options.Executor = "ray",
    ray_address: options.RayAddress = None,
    task_cpus: options.TaskCpus = 1.0,
    task_memory: options.TaskMemory = None,
    sandbox: Annotated[Path, typer.Option(help="The sandbox used when no input is given.")] = Path(
        "data/sandbox"
    ),
    serve_sandbox: Annotated[
        bool,
        typer.Option(
            "--serve-sandbox",
            help="Serve the sandbox web for the inputs given (its WARCs copied elsewhere: S3…).",
        ),
    ] = False,
) -> None:
    """Harvest pairs, match them to the queries, balance, and download the images into shards."""
    from openwit.pipeline.crawl import job
    from openwit.queries.build import load

    try:
        cfg = job.make_config(
            inputs,
            sandbox=str(sandbox),
            serve_sandbox=serve_sandbox,
            t=t,
            seed=seed,
            timeout=timeout,
            host_rps=host_rps,
            user_agent=user_agent,
            image_size=image_size,
            resize_mode=resize_mode,
            threads=threads,
            queries=str(queries),
            out=str(out),
            input_kind="urls" if urls else "wat" if wat else "warc",
            url_col=url_col,
            caption_col=caption_col,
            list_preset=list_preset,
            keep_columns=tuple(c.strip() for c in keep_columns.split(",") if c.strip())
            if keep_columns is not None
            else None,
            paths_prefix=paths_prefix,
            resolve=resolve or [],
            allow=allow or [],
            allow_private_network=allow_private_network,
            offline=offline,
            ca_bundle=str(ca_bundle) if ca_bundle else None,
            shard_size=shard_size,
        )
    except ValueError as e:
        _fail(str(e))
    if cfg.sandbox is not None:
        cfg = replace(cfg, inputs_version=ensure_sandbox(sandbox))
    ensure_queries(queries, default=queries == Path("data/queries"))
    executor_factory = options.executor_factory(executor, ray_address, task_cpus, task_memory)

    def served(info: dict) -> None:
        console.print(f"sandbox web served at {info['url']} for {len(info['resolve'])} hosts")

    try:
        summary = job.run(cfg, executor_factory, lambda: load(cfg.queries), on_serve=served)
    except (job.CrawlConfigMismatch, FileNotFoundError, ValueError) as e:
        _fail(str(e))
    _print_crawl_summary(summary, out)


def _print_crawl_summary(summary: dict, out: Path) -> None:
    if summary.get("already_complete"):
        console.print(f"{out} is already complete; nothing to do (delete it to crawl again)")
    rows = {
        k: summary[k]
        for k in (
            "inputs",
            "pages",
            "candidates",
            "matched",
            *Pool,
            "downloaded",
            "shards",
        )
    }
    rows |= {f"failed: {k}": v for k, v in summary["failures"].items()}
    rows |= {f"{k} (s)": v for k, v in summary["seconds"].items()}
    console.print(_table(f"crawl → {out}", rows))
    if "sandbox_audit" in summary:
        console.print(_table("against the sandbox's ground truth", summary["sandbox_audit"]))
    console.print(f"summary: {out}/_summary.json")


def register(app: typer.Typer) -> None:
    app.command()(crawl)
