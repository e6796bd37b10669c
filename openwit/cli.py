"""`openwit`: the command line; its sub-commands mirror the make targets.

Stage modules are imported inside each command, so `openwit --help` stays instant.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

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
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)  # one line, never wrapped
    raise typer.Exit(2)


def _table(title: str, rows: dict) -> Table:
    t = Table(title=title, show_header=False)
    for k, v in rows.items():
        t.add_row(str(k), f"{v:,}" if isinstance(v, int) else str(v))
    return t


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
    from pipeline.sandbox.build import build, is_built
    from pipeline.sandbox.config import SandboxConfig

    cfg = SandboxConfig(seed=seed, n_pages=pages, clipart_dir=str(clipart_dir))
    if not force and is_built(out, cfg):
        console.print(f"{out} is already built with this config; nothing to do (--force rebuilds)")
        return
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


def _not_built(stage: str, issue: int) -> None:
    _fail(f"`openwit {stage}` is not built yet (tracked in issue #{issue}).")


@app.command()
def crawl() -> None:
    """Harvest, match, balance and download pairs into data/crawl/ (not built yet)."""
    _not_built("crawl", 3)


@app.command()
def shards() -> None:
    """Dedupe, filter and shard data/crawl/ into data/shards/ (not built yet)."""
    _not_built("shards", 4)


@app.command()
def train() -> None:
    """Train a CLIP model on data/shards/ and evaluate it (not built yet)."""
    _not_built("train", 5)


if __name__ == "__main__":
    app()
