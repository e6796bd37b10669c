"""`openwit train` and `openwit eval`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from openwit.cli.ui import console, fail, table
from openwit.train.config import LOSSES, DataConfig, TrainConfig, to_argv


def _default_eval_dir(shards: Path) -> Path | None:
    """The evaluation sets the shards were decontaminated against, if they are here."""
    config = shards / "_config.json"
    if (shards / "_summary.json").is_file() and config.is_file():
        eval_dir = json.loads(config.read_text())["config"].get("eval_dir")
        if eval_dir and Path(eval_dir).is_dir():
            return Path(eval_dir)
    return None


def print_eval(result: dict) -> None:
    rows = {}
    for name, v in result.get("zero_shot", {}).items():
        rows[f"zero-shot {name}"] = (
            f"top-1 {v['top1']:.3f}  top-5 {v['top5']:.3f}  "
            f"chance {v['chance']:.3f}  ({v['top1'] / v['chance']:.1f}×)"
        )
    for name, v in result.get("retrieval", {}).items():
        for d in ("image_to_text", "text_to_image"):
            rows[f"{name} {d}"] = "  ".join(f"R@{k} {v[d][f'R@{k}']:.3f}" for k in (1, 5, 10))
    for name, v in result.get("linear_probe", {}).items():
        rows[f"linear probe {name}"] = f"top-1 {v['top1']:.3f}  chance {v['chance']:.3f}"
    for name, v in result.get("overlap", {}).items():
        if v["n_overlap"]:
            rows[f"overlap {name}"] = (
                f"all {v['all']:.3f}  clean {v['clean']:.3f}  overlap "
                f"{v['overlap']:.3f} (n={v['n_overlap']}, p={v.get('p_value', 1):.2g})"
            )
    console.print(table("evaluation", rows))


_T, _D = TrainConfig(), DataConfig()


def train(
    shards: Annotated[str, typer.Option(help="Shards: folder, brace pattern or URL.")] = _T.shards,
    run: Annotated[str, typer.Option(help="Run name: output in data/train/<run>.")] = "default",
    model: Annotated[str, typer.Option(help="open_clip model name or JSON config.")] = _T.model,
    epochs: Annotated[int, typer.Option(help="Epochs (of --train-samples each).")] = _T.epochs,
    train_samples: Annotated[
        int | None, typer.Option(help="Samples per epoch (default: sizes.json).")
    ] = _T.train_samples,
    batch_size: Annotated[int, typer.Option(help="Micro-batch per process.")] = _D.batch_size,
    accum: Annotated[
        int, typer.Option(help="Micro-batches per step (one contrastive batch).")
    ] = _T.accum,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = _T.lr,
    warmup: Annotated[int, typer.Option(help="Warmup steps.")] = _T.warmup,
    workers: Annotated[
        int, typer.Option(help="Data-loader workers per process (default: half the cores).")
    ] = _D.workers,
    loss: Annotated[str, typer.Option(help=f"{' or '.join(LOSSES)}.")] = _T.loss,
    crop: Annotated[
        str, typer.Option(help="square (CLIP's random square crop) or resized (open_clip's).")
    ] = _T.crop,
    flip: Annotated[bool, typer.Option(help="Mirror half of the images left-right.")] = _T.flip,
    hard_negatives: Annotated[
        bool, typer.Option(help="Score each caption against a copy with one word swapped.")
    ] = _T.hard_negatives,
    precision: Annotated[
        str, typer.Option(help="auto (bf16 on CUDA), bf16 or fp32.")
    ] = _T.precision,
    nproc: Annotated[int, typer.Option(help="Processes on this machine (torchrun).")] = 1,
    eval_dir: Annotated[
        Path | None, typer.Option(help="Evaluation folders (default: the shards' own).")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = _T.seed,
) -> None:
    """Train a CLIP model on the shards, evaluate it, write eval.json and report.html.
    A run that was stopped continues from its latest checkpoint."""
    out = Path("data/train") / run
    if "://" not in shards and "{" not in shards and not Path(shards).exists():
        fail(f"no shards at {shards}; run `make shards` first (or give --shards)")
    eval_dir = eval_dir or (_default_eval_dir(Path(shards)) if "://" not in shards else None)
    contamination = Path(shards) / "contamination.parquet"
    try:
        cfg = TrainConfig(
            shards=shards,
            out=str(out),
            model=model,
            data=DataConfig(shards=shards, batch_size=batch_size, workers=workers, seed=seed),
            epochs=epochs,
            train_samples=train_samples,
            lr=lr,
            warmup=warmup,
            accum=accum,
            loss=loss,
            crop=crop,
            flip=flip,
            hard_negatives=hard_negatives,
            precision=precision,
            eval_dir=str(eval_dir) if eval_dir else None,
            contamination=str(contamination) if contamination.is_file() else None,
            seed=seed,
            resume="latest",
            max_steps=max_steps,
        )
    except ValueError as e:
        fail(str(e))
    trainer = ["-m", "openwit.train.trainer", *to_argv(cfg)]
    if nproc > 1:
        launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        cmd = [sys.executable, *launch, *trainer]
    else:
        cmd = [sys.executable, *trainer]
    code = subprocess.call(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if code == 2:  # the trainer refused its arguments and said why
        raise typer.Exit(2)
    if code != 0:
        fail(f"training stopped with exit status {code}; run the same command to resume")
    from openwit.train import report

    if (out / "eval.json").is_file():
        print_eval(json.loads((out / "eval.json").read_text()))
    console.print(f"report: {report.write(out)}   results: {out}/eval.json")


def eval_(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint (.pt) or a run folder.")],
    eval_dir: Annotated[Path, typer.Option(help="Folders <set>/<label>/*.jpg.")] = Path(
        "data/sandbox/eval"
    ),
    out: Annotated[Path | None, typer.Option(help="Where to write eval.json.")] = None,
) -> None:
    """Zero-shot, retrieval and linear-probe evaluation of a checkpoint on image folders."""
    import torch

    from openwit.train import checkpoint as ckpt
    from openwit.train import evaluate
    from openwit.train import model as models

    path = ckpt.latest(checkpoint / "checkpoints") if checkpoint.is_dir() else checkpoint
    if path is None or not path.is_file():
        fail(f"no checkpoint at {checkpoint}; give a .pt file or a run folder with checkpoints/")
    if not eval_dir.is_dir():
        fail(f"no evaluation folders at {eval_dir}")
    state = ckpt.load(path)
    m, _, eval_tf, tokenizer = models.create(state["config"]["model"])
    m.load_state_dict(state["model"])
    result = evaluate.evaluate(m, tokenizer, eval_tf, eval_dir, torch.device("cpu"))
    target = out or path.parent.parent / "eval.json"
    from openwit.core.io import atomic_write_text

    atomic_write_text(target, json.dumps({**result, "checkpoint": str(path)}, indent=2) + "\n")
    print_eval(result)
    console.print(f"results: {target}")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command("eval")(eval_)
