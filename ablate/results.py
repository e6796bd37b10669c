"""The ablation's table: each arm's mean zero-shot top-1 over the evaluation sets, its spread
over seeds, and a paired test against the arm before it (the same seeds, so paired): the
step's effect, the spread of that effect over the seeds, and what the table concludes."""

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


ALPHA = 0.05  # a step's effect counts when its paired test is below this


def effect(a: list[float], b: list[float]) -> dict:
    """a's effect over b on the same seeds: the mean difference, its sd over the seeds,
    the paired p and the verdict ("helps", "hurts", or "within the seeds' spread")."""
    diff = np.subtract(a, b)
    p = paired_p(a, b)
    delta = float(diff.mean())
    # No p with two seeds or more: the same difference on every seed, no spread at all.
    steady = p is None and len(diff) >= 2 and delta != 0
    beyond = steady or (p is not None and p < ALPHA)
    verdict = ("helps" if delta > 0 else "hurts") if beyond else "within the seeds' spread"
    return {
        "delta": round(delta, 4),
        "delta_sd": round(float(diff.std(ddof=1)), 4) if len(diff) > 1 else 0.0,
        "paired_p": p,
        "verdict": verdict,
    }


def overall(rows: list[dict]) -> dict | None:
    """The last arm against the first (full against raw): the last row's `vs_first`."""
    if len(rows) < 2:
        return None
    vs = {k: v for k, v in rows[-1]["vs_first"].items() if k != "arm"}
    return {"arms": [rows[-1]["name"], rows[0]["name"]], **vs}


def overall_line(rows: list[dict]) -> str:
    """`overall` in words, "" for a single arm."""
    o = overall(rows)
    return "" if o is None else f"{o['arms'][0]} − {o['arms'][1]}: {_delta(o)} ({o['verdict']})"


def table(arms: list[dict]) -> list[dict]:
    """Adds each arm's mean, sd and its effect over the previous arm (`effect`)."""
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
            e = effect(scores, [s["zero_shot_mean"] for s in arms[k - 1]["runs"]])
            row["delta_vs_previous"], row["delta_sd"] = e["delta"], e["delta_sd"]
            row["paired_p_vs_previous"], row["verdict"] = e["paired_p"], e["verdict"]
            # What the pipeline up to this step buys: the same test against the first arm.
            first = [s["zero_shot_mean"] for s in arms[0]["runs"]]
            row["vs_first"] = {"arm": arms[0]["name"], **effect(scores, first)}
        out.append(row)
    return out


def _delta(e: dict) -> str:
    p = "" if e["paired_p"] is None else f", p={e['paired_p']:.2g}"
    return f"{e['delta']:+.3f} ± {e['delta_sd']:.3f}{p}"


def _short(e: dict) -> str:
    return f"{e['delta']:+.3f}" + ("" if e["paired_p"] is None else f" (p={e['paired_p']:.2g})")


def _row_effect(a: dict) -> dict | None:
    if "delta_vs_previous" not in a:
        return None
    return {
        "delta": a["delta_vs_previous"],
        "delta_sd": a.get("delta_sd", 0.0),
        "paired_p": a.get("paired_p_vs_previous"),
        "verdict": a.get("verdict", ""),
    }


def markdown(arms: list[dict]) -> str:
    """The table, then the last arm against the first in one line."""
    sets = list(arms[0]["per_set_mean"])
    head = ["arm", "pairs", "seeds", "mean top-1 ± sd", "Δ vs previous ± sd (p)", "verdict"]
    head.append(f"Δ vs {arms[0]['name']} (p)")
    lines = ["| " + " | ".join([*head, *sets]) + " |", "|" + "---|" * (len(head) + len(sets))]
    for a in arms:
        e = _row_effect(a)
        cells = [
            a["name"],
            f"{a['pairs']:,}",
            str(len(a["seeds"])),
            f"{a['zero_shot_mean']:.3f} ± {a['zero_shot_sd']:.3f}",
            _delta(e) if e else "",
            e["verdict"] if e else "",
            _short(a["vs_first"]) if "vs_first" in a else "",
            *(f"{a['per_set_mean'][s]:.3f}" for s in sets),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    last = overall_line(arms)
    return "\n".join([*lines, "", last] if last else lines) + "\n"


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
            f"{a.get('delta_sd', 0):.3f}",
            "" if a.get("paired_p_vs_previous") is None else f"{a['paired_p_vs_previous']:.2g}",
            a.get("verdict", ""),
        )
        for a in arms
    ]
    header = ["arm", "pairs", "seeds", "mean top-1", "sd", "Δ previous", "Δ sd", "paired p"]
    header.append("verdict")
    return (
        f"<!doctype html><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td,th{padding:.2em .8em;text-align:right}</style>"
        f"<h1>{title}</h1>{png_tag(fig)}{html_table(rows, header)}<p>{overall_line(arms)}</p>"
    )
