"""`openwit index` and `openwit explore`: look inside a corpus in a browser (docs/explore.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openwit.cli.ui import console, fail, table


def _shards_folder(shards: str) -> None:
    if "://" not in shards and not (Path(shards) / "candidates.parquet").is_file():
        fail(f"{shards}: no candidates.parquet here; pass the folder `openwit shards` wrote")


def index(
    shards: Annotated[str, typer.Option(help="A shards folder (`openwit shards --out`).")] = (
        "data/shards"
    ),
    checkpoint: Annotated[
        str, typer.Option(help="An OpenWIT checkpoint (.pt) or a training run folder.")
    ] = "data/train/default",
    crawl: Annotated[
        str, typer.Option(help="The crawl the shards job read (default: from its _config.json).")
    ] = "",
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 64,
) -> None:
    """Embed every kept sample's image and caption with a trained model and write the search
    index to <shards>/_index (resumable: a rerun continues from the finished parts)."""
    from openwit.explore.index import IndexConfig, build_index
    from openwit.train import checkpoint as ckpt

    _shards_folder(shards)
    path = Path(checkpoint)
    path = ckpt.latest(path / "checkpoints") if path.is_dir() else path
    if path is None or not path.is_file():
        fail(f"no checkpoint at {checkpoint}; give a .pt file or a run folder with checkpoints/")
    checkpoint = str(path)
    try:
        meta = build_index(
            IndexConfig(shards, checkpoint, crawl=crawl or None, batch_size=batch_size)
        )
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    console.print(table("index", {k: v for k, v in meta.items() if k != "config"}))


def explore(
    shards: Annotated[str, typer.Option(help="A shards folder, local or s3://.")] = "data/shards",
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback exposes the corpus.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    crawl: Annotated[str, typer.Option(help="The crawl (default: from _config.json).")] = "",
    queries: Annotated[str, typer.Option(help="The query list (default: the crawl's).")] = "",
    index_dir: Annotated[
        str, typer.Option("--index", help="An index folder (default: <shards>/_index).")
    ] = "",
) -> None:
    """Browse a corpus: text and image search, facets over every candidate's fate, each
    sample's provenance and duplicates, the query-entry table."""
    from openwit.explore.app import ExploreConfig, serve

    _shards_folder(shards)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            f"[yellow]warning:[/yellow] binding {host}: anyone who can reach this address can "
            "read the corpus's captions, URLs and images; there is no login"
        )
    cfg = ExploreConfig(shards, crawl or None, queries or None, index_dir or None)
    console.print(f"OpenWIT explore on http://{host}:{port}/  (Ctrl-C stops)")
    serve(cfg, host, port)


def register(app: typer.Typer) -> None:
    app.command()(index)
    app.command()(explore)
