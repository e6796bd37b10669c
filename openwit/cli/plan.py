"""`openwit plan`: what a full-size corpus and training run take, from the measured rates."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from openwit.cli.ui import console, fail


def _n(x: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:,.1f}{unit}"
    return f"{x:,.1f}"


def plan(
    pairs: Annotated[str, typer.Option(help="Target pairs after all filters: 400M…")] = "400M",
    model: Annotated[str, typer.Option(help="open_clip model (name or JSON).")] = "ViT-B-32",
    epochs: Annotated[float, typer.Option(help="Epochs over the corpus (CLIP: 32).")] = 32.0,
    gpu: Annotated[str, typer.Option(help="A100, H100 or V100 (bf16/fp16 peak).")] = "A100",
    mfu: Annotated[float, typer.Option(help="Model FLOP utilisation, assumed.")] = 0.2,
    cpus: Annotated[int, typer.Option(help="Cores in the pipeline's Ray cluster.")] = 512,
    gpus: Annotated[int, typer.Option(help="GPUs for training.")] = 64,
    cpu_hour: Annotated[float, typer.Option(help="$ per core-hour.")] = 0.04,
    gpu_hour: Annotated[float, typer.Option(help="$ per GPU-hour.")] = 2.0,
    gb_month: Annotated[float, typer.Option(help="$ per GB-month of storage.")] = 0.023,
    yield_: Annotated[
        list[str] | None,
        typer.Option("--yield", help="Override a yield: name=value (see the table)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Core-hours, GPU-hours, storage, cost and wall-clock for a full corpus and training run."""
    from openwit.infra.plan import GPUS, YIELDS, PlanConfig, parse_count
    from openwit.infra.plan import plan as make_plan

    try:
        target = parse_count(pairs)
    except ValueError as e:
        fail(f"--pairs {e}")
    if gpu not in GPUS:
        fail(f"--gpu {gpu!r}: choose one of {', '.join(GPUS)}")
    yields = {}
    for item in yield_ or []:
        key, _, value = item.partition("=")
        if key not in YIELDS or not value:
            fail(f"--yield {item!r}: write name=value with a name from {', '.join(YIELDS)}")
        yields[key] = float(value)
    cfg = PlanConfig(target, model, epochs, gpu, mfu, cpus, gpus, cpu_hour, gpu_hour, gb_month)
    cfg.yields = yields
    result = make_plan(cfg)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print(result)


def _print(r: dict) -> None:
    t = Table(title=f"Plan: {_n(r['target_pairs'])} pairs", show_lines=False)
    for col in ("stage", "work", "per-core rate /s", "core-hours", "wall hours", "rate from"):
        t.add_column(col)
    work = {"harvest": "pages", "match": "candidates", "download": "downloads", "shards": "scanned"}
    work["decide"] = "scanned"
    rate = {"harvest": "harvest_pages", "match": "match_texts", "download": "download_images"}
    rate |= {"shards": "shards_images", "decide": "decide_rows"}
    for stage, hours in r["core_hours"].items():
        value, source = r["rates_per_core_s"][rate[stage]]
        t.add_row(
            stage,
            f"{_n(r['work'][work[stage]])} {work[stage]}",
            f"{value:,.1f}",
            f"{hours:,.0f}",
            f"{r['wall_hours'][stage]:,.1f} on {r['cluster']['cpus']} cores",
            source,
        )
    tr = r["train"]
    t.add_row(
        "train",
        f"{_n(r['work']['samples_seen'])} samples ({tr['epochs']:g} epochs, {tr['model']})",
        f"{tr['train_gflops_per_sample']:.1f} GFLOP/sample",
        f"{tr['gpu_hours']:,.0f} {tr['gpu']}-hours",
        f"{r['wall_hours']['train']:,.1f} on {r['cluster']['gpus']} GPUs",
        f"FLOPs at {tr['mfu']:.0%} of peak (assumed)",
    )
    console.print(t)
    y = Table(title="Yields (fraction surviving each stage)")
    for col in ("name", "value", "source"):
        y.add_column(col)
    for k, (v, src) in r["yields"].items():
        y.add_row(k, f"{v:g}", src)
    console.print(y)
    s, c = r["storage_gb"], r["cost_usd"]
    console.print(
        f"storage: WARC input {s['warc_input'] / 1e3:,.1f} TB, shards {s['shards'] / 1e3:,.1f} TB, "
        f"metadata {s['metadata'] / 1e3:,.1f} TB; the decision's scratch "
        f"{r['decide_scratch_gb'] / 1e3:,.1f} TB while it runs"
    )
    console.print(
        f"cost: CPU ${c['cpu']:,.0f}, GPU ${c['gpu']:,.0f}, storage ${c['storage_per_month']:,.0f}"
        f"/month; same FLOPs on V100s: {tr['v100_hours_equivalent']:,.0f} V100-hours"
    )
    console.print("CLIP paper: " + "; ".join(f"{k}: {v}" for k, v in r["clip_paper"].items()))


def register(app: typer.Typer) -> None:
    app.command()(plan)
