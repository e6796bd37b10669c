"""`report.html` of a training run: loss and temperature curves, zero-shot accuracy per
evaluation set over training, and the final evaluation tables. One static file."""

from __future__ import annotations

import html
import json
from pathlib import Path

from openwit.core.html import html_table, png_tag
from openwit.core.io import atomic_write_text


def _read_metrics(run: Path) -> list[dict]:
    rows = {}
    path = run / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        key = (row["step"], "eval" in row)
        rows[key] = row  # a resumed run repeats steps: the last word wins
    return [rows[k] for k in sorted(rows)]


def _confusion_figure(sets: dict[str, dict]):
    """One heatmap per zero-shot set: rows are the true class, columns the class the model
    named, each row as shares of that class's images (a column that fills up is a class the
    model answers for everything)."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 4.4), squeeze=False)
    for ax, (name, v) in zip(axes[0], sets.items(), strict=True):
        m = np.asarray(v["confusion"], dtype=float)
        m = m / np.maximum(m.sum(1, keepdims=True), 1)
        ax.imshow(m, vmin=0, vmax=1, cmap="Blues")
        labels = v.get("classes") or [str(i) for i in range(len(m))]
        ax.set_xticks(range(len(m)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(m)), labels, fontsize=7)
        ax.set_xlabel("named")
        ax.set_ylabel("true")
        ax.set_title(f"{name} (top-1 {v['top1']:.3f})")
    fig.tight_layout()
    return fig


def _few_shot_figure(sets: dict[str, dict]):
    """Linear probes on k images per class against zero-shot (CLIP Fig. 6 in spirit)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 3.4), squeeze=False)
    for ax, (name, v) in zip(axes[0], sets.items(), strict=True):
        ks = sorted(v["shots"], key=int)
        ax.plot([int(k) for k in ks], [v["shots"][k] for k in ks], "o-", label="linear probe")
        ax.axhline(v["zero_shot"], color="C1", ls="--", label="zero-shot")
        ax.axhline(v["chance"], color="grey", ls=":", label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("labelled images per class")
        ax.set_ylabel("top-1")
        ax.set_title(
            f"{name}: zero-shot matches {v.get('matches_zero_shot') or '> ' + ks[-1]} shots"
            if ks
            else name
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _robustness_figure(points: list[tuple[str, float, float]], served: str, shifted: str):
    """Accuracy under the style shift against accuracy in the served style, one point per
    evaluation (CLIP Fig. 13–14 in spirit): on y = x a model is as good on art it never saw."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    for label, x, y in points:
        ax.plot(x, y, "o")
        ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    top = max([0.05] + [max(x, y) for _, x, y in points]) * 1.1
    ax.plot([0, top], [0, top], color="grey", ls="--", label="y = x (effective robustness)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"{served} top-1 (served styles)")
    ax.set_ylabel(f"{shifted} top-1 (never-served style)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write(run: str | Path) -> Path:
    import matplotlib.pyplot as plt

    run = Path(run)
    rows = _read_metrics(run)
    train = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "eval" in r]
    parts = [f"<h1>OpenWIT training run</h1><p>{html.escape(str(run))}</p>"]
    if train:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
        ax[0].plot([r["step"] for r in train], [r["loss"] for r in train])
        ax[0].set_title("contrastive loss")
        ax[0].set_xlabel("step")
        ax[1].plot([r["step"] for r in train], [r["logit_scale"] for r in train])
        ax[1].set_title("logit scale (1 / temperature)")
        ax[1].set_xlabel("step")
        parts.append(png_tag(fig))
    if evals:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        for name in evals[-1]["eval"]:
            ax.plot(
                [r["step"] for r in evals], [r["eval"].get(name) for r in evals], "o-", label=name
            )
        ax.set_title("zero-shot top-1")
        ax.set_xlabel("step")
        ax.legend()
        parts.append(png_tag(fig))
    result_path = run / "eval.json"
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        zs = [
            (
                k,
                f"{v['top1']:.3f}",
                f"{v['top5']:.3f}",
                f"{v['chance']:.3f}",
                f"{v['top1'] / v['chance']:.1f}×",
            )
            for k, v in result["zero_shot"].items()
        ]
        parts += [
            "<h2>Zero-shot</h2>",
            html_table(zs, ["set", "top-1", "top-5", "chance", "× chance"]),
        ]
        confusions = {
            k: v
            for k, v in result["zero_shot"].items()
            if "confusion" in v and len(v["confusion"]) <= 30  # 256 classes: a grey square
        }
        if confusions:
            parts += ["<h3>Where the misses go</h3>", png_tag(_confusion_figure(confusions))]
        rt = [
            (k, d, *(f"{v[d][f'R@{n}']:.3f}" for n in (1, 5, 10)))
            for k, v in result["retrieval"].items()
            for d in ("image_to_text", "text_to_image")
        ]
        parts += ["<h2>Retrieval</h2>", html_table(rt, ["set", "direction", "R@1", "R@5", "R@10"])]
        lp = [
            (k, f"{v['top1']:.3f}", f"{v['chance']:.3f}") for k, v in result["linear_probe"].items()
        ]
        parts += ["<h2>Linear probe</h2>", html_table(lp, ["set", "top-1", "chance"])]
        if result.get("few_shot"):
            parts += [
                "<h2>Few-shot linear probes vs zero-shot</h2>",
                png_tag(_few_shot_figure(result["few_shot"])),
            ]
        points = [
            (f"step {r['step']}", r["eval"]["emoji"], r["eval"]["emoji_shift"])
            for r in evals
            if {"emoji", "emoji_shift"} <= set(r["eval"])
        ]
        if points:
            parts += [
                "<h2>Robustness to a style never served</h2>",
                png_tag(_robustness_figure(points, "emoji", "emoji_shift")),
            ]
        ov = [
            (
                k,
                f"{v['all']:.3f}",
                v["n_clean"],
                f"{v['clean']:.3f}" if v["clean"] is not None else "",
                v["n_overlap"],
                f"{v['overlap']:.3f}" if v["overlap"] is not None else "",
                f"{v.get('p_value', float('nan')):.3g}",
            )
            for k, v in result["overlap"].items()
        ]
        if ov:
            parts += [
                "<h2>Overlap (CLIP §5)</h2>",
                html_table(ov, ["set", "all", "clean n", "clean", "overlap n", "overlap", "p"]),
            ]
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
    )
    doc = f"<!doctype html><meta charset='utf-8'><title>OpenWIT run</title><style>{style}</style>"
    atomic_write_text(run / "report.html", doc + "\n".join(parts))
    return run / "report.html"
