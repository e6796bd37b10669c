"""`openwit train` and `openwit eval`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from openwit.ui import console, fail, table


def _default_eval_dir(shards: Path) -> Path | None:
    summary = shards / "_summary.json"
    if summary.is_file() and "sandbox_audit" in json.loads(summary.read_text()):
        config = json.loads((shards / "_config.json").read_text())["config"]
        if config.get("eval_dir") and Path(config["eval_dir"]).is_dir():
            return Path(config["eval_dir"])
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


def train(
    shards: Annotated[
        str, typer.Option(help="Shards: folder, brace pattern or URL.")
    ] = "data/shards",
    run: Annotated[str, typer.Option(help="Run name: output in data/train/<run>.")] = "default",
    model: Annotated[
        str, typer.Option(help="open_clip model name or JSON config.")
    ] = "openwit-tiny-rn",
    epochs: Annotated[int, typer.Option(help="Epochs (of --train-samples each).")] = 9,
    train_samples: Annotated[
        int | None, typer.Option(help="Samples per epoch (default: sizes.json).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Micro-batch per process.")] = 128,
    accum: Annotated[int, typer.Option(help="Micro-batches per step (one contrastive batch).")] = 1,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-3,
    warmup: Annotated[int, typer.Option(help="Warmup steps.")] = 40,
    workers: Annotated[
        int, typer.Option(help="Data-loader workers per process (default: half the cores).")
    ] = max(1, (os.cpu_count() or 2) // 2),
    loss: Annotated[str, typer.Option(help="clip or siglip.")] = "clip",
    crop: Annotated[
        str,
        typer.Option(help="square (CLIP's random square crop) or resized (open_clip's)."),
    ] = "square",
    flip: Annotated[bool, typer.Option(help="Mirror half of the images left-right.")] = False,
    hard_negatives: Annotated[
        bool, typer.Option(help="Score each caption against a copy with one word swapped.")
    ] = False,
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA), bf16 or fp32.")] = "auto",
    nproc: Annotated[int, typer.Option(help="Processes on this machine (torchrun).")] = 1,
    eval_dir: Annotated[
        Path | None, typer.Option(help="Evaluation folders (default: the sandbox's).")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Train a CLIP model on the shards, evaluate it, write eval.json and report.html.
    A run that was stopped continues from its latest checkpoint."""
    out = Path("data/train") / run
    if "://" not in shards and "{" not in shards and not Path(shards).exists():
        fail(f"no shards at {shards}; run `make shards` first (or give --shards)")
    eval_dir = eval_dir or (_default_eval_dir(Path(shards)) if "://" not in shards else None)
    contamination = Path(shards) / "contamination.parquet"
    args = [
        "--shards",
        shards,
        "--out",
        str(out),
        "--model",
        model,
        "--epochs",
        str(epochs),
        "--batch-size",
        str(batch_size),
        "--accum",
        str(accum),
        "--lr",
        str(lr),
        "--warmup",
        str(warmup),
        "--workers",
        str(workers),
        "--loss",
        loss,
        "--crop",
        crop,
        "--precision",
        precision,
        "--seed",
        str(seed),
        "--resume",
        "latest",
    ]
    if train_samples:
        args += ["--train-samples", str(train_samples)]
    if eval_dir:
        args += ["--eval-dir", str(eval_dir)]
    if contamination.is_file():
        args += ["--contamination", str(contamination)]
    if max_steps:
        args += ["--max-steps", str(max_steps)]
    if flip:
        args.append("--flip")
    if hard_negatives:
        args.append("--hard-negatives")
    if nproc > 1:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "train.trainer",
            *args,
        ]
    else:
        cmd = [sys.executable, "-m", "train.trainer", *args]
    code = subprocess.call(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if code == 2:  # the trainer refused its arguments and said why
        raise typer.Exit(2)
    if code != 0:
        fail(f"training stopped with exit status {code}; run the same command to resume")
    from train import report

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

    from train import checkpoint as ckpt
    from train import evaluate
    from train import model as models

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
    from queries.io import atomic_write_text

    atomic_write_text(target, json.dumps({**result, "checkpoint": str(path)}, indent=2) + "\n")
    print_eval(result)
    console.print(f"results: {target}")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command("eval")(eval_)
