"""The ablation's table: each arm's mean zero-shot top-1 over the evaluation sets, its spread
over seeds, and a paired test against the arm before it (the same seeds, so paired)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def seed_score(eval_json: Path) -> tuple[float, dict[str, float]]:
    """One run's mean zero-shot top-1 over its evaluation sets, and each set's."""
    zs = json.loads(eval_json.read_text())["zero_shot"]
    per_set = {name: float(v["top1"]) for name, v in sorted(zs.items())}
    return float(np.mean(list(per_set.values()))), per_set


def paired_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided paired t-test p-value of a against b (None below two pairs or no spread)."""
    from scipy.stats import ttest_rel

    if len(a) < 2 or len(a) != len(b) or np.allclose(np.subtract(a, b), np.subtract(a, b)[0]):
        return None
    return float(ttest_rel(a, b).pvalue)


def table(arms: list[dict]) -> list[dict]:
    """Adds each arm's mean, sd and the paired test against the previous arm."""
    out = []
    for k, arm in enumerate(arms):
        scores = [s["zero_shot_mean"] for s in arm["runs"]]
        row = {
            **arm,
            "zero_shot_mean": round(float(np.mean(scores)), 4),
            "zero_shot_sd": round(float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0, 4),
            "per_set_mean": {
                name: round(float(np.mean([s["per_set"][name] for s in arm["runs"]])), 4)
                for name in arm["runs"][0]["per_set"]
            },
        }
        if k:
            prev = [s["zero_shot_mean"] for s in arms[k - 1]["runs"]]
            row["delta_vs_previous"] = round(float(np.mean(scores) - np.mean(prev)), 4)
            row["paired_p_vs_previous"] = paired_p(scores, prev)
        out.append(row)
    return out


def markdown(arms: list[dict]) -> str:
    sets = list(arms[0]["per_set_mean"])
    head = ["arm", "pairs", "seeds", "mean top-1 ± sd", "Δ vs previous (p)", *sets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in arms:
        delta = (
            f"{a['delta_vs_previous']:+.3f} (p={a['paired_p_vs_previous']:.2g})"
            if a.get("paired_p_vs_previous") is not None
            else (f"{a['delta_vs_previous']:+.3f}" if "delta_vs_previous" in a else "")
        )
        cells = [
            a["name"],
            f"{a['pairs']:,}",
            str(len(a["seeds"])),
            f"{a['zero_shot_mean']:.3f} ± {a['zero_shot_sd']:.3f}",
            delta,
            *(f"{a['per_set_mean'][s]:.3f}" for s in sets),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_html(arms: list[dict], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from openwit.core.html import html_table, png_tag

    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(arms))
    for a_i, a in enumerate(arms):
        ax.scatter(
            [a_i] * len(a["runs"]),
            [r["zero_shot_mean"] for r in a["runs"]],
            s=12,
            color="grey",
            zorder=3,
        )
    ax.errorbar(
        x,
        [a["zero_shot_mean"] for a in arms],
        yerr=[a["zero_shot_sd"] for a in arms],
        fmt="o-",
        capsize=4,
        zorder=4,
    )
    ax.set_xticks(x, [a["name"] for a in arms], rotation=20)
    ax.set_ylabel("mean zero-shot top-1")
    ax.set_title("each arm adds one curation step; equal pairs, equal samples seen")
    ax.grid(alpha=0.3)
    rows = [
        (
            a["name"],
            a["pairs"],
            len(a["seeds"]),
            f"{a['zero_shot_mean']:.3f}",
            f"{a['zero_shot_sd']:.3f}",
            f"{a.get('delta_vs_previous', 0):+.3f}",
            "" if a.get("paired_p_vs_previous") is None else f"{a['paired_p_vs_previous']:.2g}",
        )
        for a in arms
    ]
    header = ["arm", "pairs", "seeds", "mean top-1", "sd", "Δ previous", "paired p"]
    return (
        f"<!doctype html><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td,th{padding:.2em .8em;text-align:right}</style>"
        f"<h1>{title}</h1>{png_tag(fig)}{html_table(rows, header)}"
    )
