"""`openwit crawl`: harvest, match, balance and download into shards (the sandbox by default)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from openwit import options
from openwit.queries_cli import ensure_queries
from openwit.sandbox_cli import ensure_sandbox
from openwit.ui import console
from openwit.ui import fail as _fail
from openwit.ui import table as _table

# The sandbox's 28k pairs need a small cap for balancing to bite; at 700 it still drops 1.6k
# head-entry pairs, and more distinct images train better per step than repeats of fewer
# (100 -> 400 -> 700, docs/train.md).
SANDBOX_T = 700


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
        bool, typer.Option("--urls", help="Inputs are URL lists (Parquet/CSV/JSONL).")
    ] = False,
    url_col: Annotated[str, typer.Option(help="URL column of a URL list.")] = "url",
    caption_col: Annotated[str, typer.Option(help="Caption column of a URL list.")] = "caption",
    t: Annotated[
        int | None, typer.Option("--t", help="Max pairs per entry (CLIP: 20000; sandbox: 700).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Balancing seed.")] = 0,
    shard_size: Annotated[int, typer.Option(help="Samples per shard.")] = 1000,
    threads: Annotated[int, typer.Option(help="Download threads per task.")] = 32,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds per response (10; sandbox 5).")
    ] = None,
    host_rps: Annotated[
        float | None, typer.Option(help="Requests/s per host, whole crawl (20; sandbox 50).")
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
    from dataclasses import replace

    from pipeline.balance import CLIP_T, BalanceConfig
    from pipeline.crawl import CrawlConfig, CrawlConfigMismatch
    from pipeline.download import DownloadConfig
    from pipeline.fetch import USER_AGENT, FetchConfig
    from pipeline.resize import ResizeConfig

    on_sandbox = not inputs or serve_sandbox
    try:
        resize = ResizeConfig(image_size=image_size, resize_mode=resize_mode)
    except ValueError as e:
        _fail(str(e))
    fetch = FetchConfig(
        user_agent=user_agent or USER_AGENT,
        timeout=timeout or (5.0 if on_sandbox else 10.0),
        host_rps=host_rps or (50.0 if on_sandbox else 20.0),
    )
    cfg = CrawlConfig(
        inputs=tuple(inputs or [str(sandbox / "crawl-data")]),
        queries=str(queries),
        out=str(out),
        input_kind="urls" if urls else "warc",
        url_col=url_col,
        caption_col=caption_col,
        shard_size=shard_size,
        balance=BalanceConfig(t or (SANDBOX_T if on_sandbox else CLIP_T), seed),
        download=DownloadConfig(fetch=fetch, resize=resize, threads=threads),
    )
    if on_sandbox:
        cfg = replace(cfg, inputs_version=ensure_sandbox(sandbox))
    ensure_queries(queries, default=queries == Path("data/queries"))
    executor_factory = options.executor_factory(executor, ray_address, task_cpus, task_memory)
    try:
        if on_sandbox:
            summary = _crawl_sandbox(cfg, sandbox, executor_factory)
        else:
            summary = _crawl(cfg, executor_factory)
    except (CrawlConfigMismatch, FileNotFoundError, ValueError) as e:
        _fail(str(e))
    _print_crawl_summary(summary, out)


def _crawl(cfg, make_executor) -> dict:
    from pipeline import crawl as job
    from queries.build import load

    return job.run(cfg, make_executor, lambda: load(cfg.queries))


def _crawl_sandbox(cfg, root: Path, make_executor) -> dict:
    from dataclasses import replace

    from pipeline.sandbox.audit import audit
    from pipeline.sandbox.server import serve_in_subprocess
    from queries.io import atomic_write_text

    log = Path(cfg.out) / "_sandbox_server_log.jsonl"
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    with serve_in_subprocess(root, slow_seconds=8.0, log_path=log) as info:
        console.print(f"sandbox web served at {info['url']} for {len(info['resolve'])} hosts")
        fetch = replace(
            cfg.download.fetch,
            resolve=info["resolve"],
            allow=tuple(info["allow"]),
            resolve_only=True,
        )
        summary = _crawl(replace(cfg, download=replace(cfg.download, fetch=fetch)), make_executor)
    if not summary.get("already_complete"):
        summary["sandbox_audit"] = audit(cfg.out, root, log)
        atomic_write_text(Path(cfg.out) / "_summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


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
            "no_match",
            "balanced_out",
            "selected",
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
