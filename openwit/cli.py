"""`openwit`: the command line; its sub-commands mirror the make targets.

Stage modules are imported inside each command, so `openwit --help` stays instant.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from openwit import options
from openwit.ui import console
from openwit.ui import fail as _fail
from openwit.ui import table as _table

if TYPE_CHECKING:
    from pipeline.sandbox.config import SandboxConfig

app = typer.Typer(
    help="OpenWIT: build a CLIP-style image-text corpus and train on it.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(
    help="The local sandbox web that stands in for the internet.", no_args_is_help=True
)
queries_app = typer.Typer(
    help="The ~500k query list (MetaCLIP's recipe) and its matcher.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(queries_app, name="queries")


@sandbox_app.command("build")
def sandbox_build(
    out: Annotated[Path, typer.Option(help="Where to write the sandbox.")] = Path("data/sandbox"),
    seed: Annotated[int, typer.Option(help="One seed, one sandbox, byte for byte.")] = 0,
    pages: Annotated[int, typer.Option(help="Number of web pages (~9.5 images each).")] = 3000,
    clipart_dir: Annotated[Path, typer.Option(help="Debian openclipart root.")] = Path(
        "/usr/share/openclipart"
    ),
    force: Annotated[bool, typer.Option(help="Rebuild even if an identical build exists.")] = False,
) -> None:
    """Generate the sandbox web: WARC pages, image plan, evaluation sets, ground truth."""
    from pipeline.sandbox.build import is_built
    from pipeline.sandbox.config import SandboxConfig

    cfg = SandboxConfig(seed=seed, n_pages=pages, clipart_dir=str(clipart_dir))
    if not force and is_built(out, cfg):
        console.print(f"{out} is already built with this config; nothing to do (--force rebuilds)")
        return
    _build_sandbox(out, cfg)


def _build_sandbox(out: Path, cfg: SandboxConfig) -> None:
    from pipeline.sandbox.build import build

    clipart_dir = Path(cfg.clipart_dir)
    if not (clipart_dir / "png").is_dir():
        console.print(
            f"[yellow]note:[/yellow] no openclipart at {clipart_dir}: procedural images "
            "only (`make install` adds Debian's openclipart-png/-svg)"
        )
    started = time.time()
    with console.status("building the sandbox web…"):
        summary = build(out, cfg)
    console.print(
        _table(
            f"sandbox built in {time.time() - started:.1f}s → {out}",
            {
                "hosts": summary["hosts"],
                "pages": summary["pages"],
                "candidate pairs": summary["candidates"],
                "image URLs": summary["image_urls"],
                **{f"eval/{k}": v for k, v in summary["eval"].items()},
            },
        )
    )
    console.print(f"ground truth: {out}/truth/summary.json")


@sandbox_app.command("serve")
def sandbox_serve(
    root: Annotated[Path, typer.Option(help="A built sandbox.")] = Path("data/sandbox"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    slow_seconds: Annotated[
        float, typer.Option(help="Delay of the planted slow responses.")
    ] = 15.0,
    duration: Annotated[
        float, typer.Option(help="Stop after this many seconds; 0 = until Ctrl-C.")
    ] = 0.0,
) -> None:
    """Serve the sandbox on loopback; writes the resolve map to <root>/serve.json."""
    from pipeline.sandbox.server import SandboxServer

    try:
        server = SandboxServer(root, port=port, slow_seconds=slow_seconds)
    except FileNotFoundError as e:
        _fail(str(e))
    info = server.start()
    info_path = server.write_info()
    console.print(
        f"serving {len(info['resolve'])} hosts at {info['url']} "
        f"(resolve map: {info_path}; log: {info['log']}); Ctrl-C stops"
    )
    try:
        deadline = time.time() + duration if duration > 0 else float("inf")
        while time.time() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        info_path.unlink(missing_ok=True)
        console.print("sandbox server stopped")


@queries_app.command("build")
def queries_build(
    out: Annotated[Path, typer.Option(help="Folder for versioned lists.")] = Path("data/queries"),
    wordnet_dir: Annotated[Path, typer.Option(help="WordNet 3.0 dict folder.")] = Path(
        "/usr/share/wordnet"
    ),
    wordnet_lemmas: Annotated[
        str, typer.Option(help="'all' lemmas or only synset 'names'.")
    ] = "all",
    unigram_min_zipf: Annotated[float, typer.Option(help="wordfreq Zipf threshold.")] = 1.0,
    bigram_min_pmi: Annotated[float, typer.Option(help="log2 PMI threshold for bigrams.")] = 6.0,
    bigram_min_count: Annotated[int, typer.Option(help="Minimum bigram count.")] = 2,
    corpus: Annotated[
        list[Path], typer.Option(help="Extra text for bigram PMI (repeatable).")
    ] = [],  # noqa: B006
    titles: Annotated[list[Path], typer.Option(help="Extra titles, one a line (repeatable).")] = [],  # noqa: B006
) -> None:
    """Build the query list from WordNet, unigrams, high-PMI bigrams and titles."""
    from queries.build import QueryConfig, build, write
    from queries.wordnet import WordNetMissingError

    for p in [*corpus, *titles]:
        if not p.is_file():
            _fail(f"{p}: no such file; give a UTF-8 text file, one sentence or title a line")
    cfg = QueryConfig(
        str(wordnet_dir),
        wordnet_lemmas,
        unigram_min_zipf,
        bigram_min_pmi,
        bigram_min_count,
        tuple(map(str, corpus)),
        tuple(map(str, titles)),
    )
    started = time.time()
    try:
        with console.status("building the query list…"):
            ql = build(cfg)
            target = write(ql, out, cfg)
    except (WordNetMissingError, ValueError) as e:
        _fail(str(e))
    summary = json.loads((target / "summary.json").read_text())
    t = Table(title=f"{len(ql):,} entries in {time.time() - started:.1f}s → {target}")
    t.add_column("source")
    t.add_column("produced", justify="right")
    t.add_column("first from it", justify="right")
    for s, n in summary["per_source"].items():
        t.add_row(s, f"{n:,}", f"{summary['first_source'][s]:,}")
    console.print(t)


@queries_app.command("match")
def queries_match(
    text: Annotated[list[str], typer.Argument(help="Texts to match.")],
    queries: Annotated[
        Path, typer.Option(help="A built list, its folder, or a metadata.json.")
    ] = Path("data/queries"),
) -> None:
    """Print the entries each text contains (MetaCLIP's substring semantics)."""
    from queries.build import load
    from queries.match import Matcher

    try:
        ql = load(queries)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    m = Matcher(ql.entries)
    for t, ids in zip(text, m.match_many(text), strict=True):
        print(json.dumps({"text": t, "entries": [ql.entries[i] for i in ids], "ids": ids}))


# The sandbox's 28k pairs need a small cap for balancing to bite; at 400 it still drops a
# quarter, and the 2.2x more distinct images than at 100 train better per step (docs/train.md).
SANDBOX_T = 400


@app.command()
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
        int | None, typer.Option("--t", help="Max pairs per entry (CLIP: 20000; sandbox: 400).")
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
        cfg = replace(cfg, inputs_version=_ensure_sandbox(sandbox))
    _ensure_queries(queries, default=queries == Path("data/queries"))
    executor_factory = options.executor_factory(executor, ray_address, task_cpus, task_memory)
    try:
        if on_sandbox:
            summary = _crawl_sandbox(cfg, sandbox, executor_factory)
        else:
            summary = _crawl(cfg, executor_factory)
    except (CrawlConfigMismatch, FileNotFoundError, ValueError) as e:
        _fail(str(e))
    _print_crawl_summary(summary, out)


def _ensure_sandbox(root: Path) -> str:
    """Build the sandbox if it is missing or of an older format; returns its build's digest."""
    from pipeline.sandbox.build import FORMAT_VERSION
    from pipeline.sandbox.config import SandboxConfig

    meta = root / "sandbox.json"
    if not meta.is_file():
        console.print(f"no sandbox at {root}: building it first")
        _build_sandbox(root, SandboxConfig())
    elif (saved := json.loads(meta.read_text())).get("format_version") != FORMAT_VERSION:
        console.print(
            f"{root} is sandbox format {saved.get('format_version')} and this OpenWIT serves "
            f"format {FORMAT_VERSION}: rebuilding it with its own settings"
        )
        _build_sandbox(root, SandboxConfig.from_json(saved["config"]))
    return hashlib.sha256(meta.read_bytes()).hexdigest()[:16]


def _ensure_queries(path: Path, default: bool) -> None:
    if default and not (path / "LATEST").is_file():
        console.print(f"no query list at {path}: building the default one first")
        queries_build(
            out=path,
            wordnet_dir=Path("/usr/share/wordnet"),
            wordnet_lemmas="all",
            unigram_min_zipf=1.0,
            bigram_min_pmi=6.0,
            bigram_min_count=2,
            corpus=[],
            titles=[],
        )


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


from openwit import plan_cli, shards_cli, train_cli  # noqa: E402 - they register commands

shards_cli.register(app)
train_cli.register(app)
plan_cli.register(app)

if __name__ == "__main__":
    app()
