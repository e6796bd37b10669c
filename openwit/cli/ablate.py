"""`openwit ablate`: what each curation step buys (docs/curation.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from openwit.cli.ui import console, fail


def ablate(
    name: Annotated[str, typer.Option(help="Output in data/ablate/<name>.")] = "default",
    arms: Annotated[
        str,
        typer.Option(
            help="Arms, in order: raw,balanced,filtered,deduped,decontaminated,"
            "semdedup,full (default: all)."
        ),
    ] = "",
    seeds: Annotated[str, typer.Option(help="Training seeds per arm, comma-separated.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(help="Epochs over each arm's equal-size shards.")] = 2,
    balance: Annotated[int, typer.Option(help="MetaCLIP's cap per query entry.")] = 700,
    semdedup: Annotated[float, typer.Option(help="SemDeDup's cosine threshold.")] = 0.99,
    top_percent: Annotated[
        float, typer.Option(help="The model-score filter keeps this share of pairs.")
    ] = 70.0,
    sandbox: Annotated[str, typer.Option(help="The sandbox whose evaluation sets score.")] = (
        "data/sandbox"
    ),
    executor: Annotated[str, typer.Option(help="ray or local, for the shards jobs.")] = "ray",
    parallel: Annotated[
        int, typer.Option(help="Training runs at once (0: one per core, at most 4).")
    ] = 0,
) -> None:
    """From one crawl, build the shards of each curation arm, train each on the same number of
    pairs for the same samples over several seeds, evaluate zero-shot, and write
    data/ablate/<name>/results.json, results.md and report.html."""
    from openwit.ablate.arms import NAMES, Recipe
    from openwit.ablate.job import AblateConfig, default_parallel, run

    try:
        cfg = AblateConfig(
            name=name,
            sandbox=sandbox,
            arms=tuple(a.strip() for a in arms.split(",") if a.strip()) or NAMES,
            seeds=tuple(int(s) for s in seeds.split(",") if s.strip()),
            epochs=epochs,
            recipe=Recipe(balance_t=balance, semdedup=semdedup, top_percent=top_percent),
            executor=executor,
            parallel=parallel or default_parallel(),
        )
    except ValueError as e:
        fail(str(e))
    summary = run(cfg)
    from openwit.ablate.results import markdown

    console.print(markdown(summary["arms"]))
    console.print(
        f"results: data/ablate/{name}/results.json   report: data/ablate/{name}/report.html"
    )


def register(app: typer.Typer) -> None:
    app.command()(ablate)
