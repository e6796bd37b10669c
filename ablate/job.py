"""`openwit ablate`: from one crawl, the shards of every arm, each trained with the same recipe
on the same number of pairs for the same number of samples, over several seeds.

    data/ablate/<name>/crawl/            one crawl of the sandbox with no balancing (t huge)
    data/ablate/<name>/arms/<arm>/full/  the arm's shards, as its steps leave them
    data/ablate/<name>/scorer/           a model trained on the `decontaminated` arm: it embeds
                                         for semantic dedup and scores for the model filter
    data/ablate/<name>/arms/<arm>/shards/  cut to the smallest arm's size (--max-samples)
    data/ablate/<name>/arms/<arm>/seed<s>/ a training run and its eval.json
    data/ablate/<name>/results.json, results.md, report.html

Every stage is a subprocess of the project's own commands; each skips what it finished, so a
stopped ablation continues where it stopped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from openwit.ablate import results
from openwit.ablate.arms import NAMES, NEEDS_SCORER, Recipe, shards_args
from openwit.core.io import atomic_write_text

NO_BALANCE = 10**9  # a cap no entry reaches: the crawl keeps every matched pair


@dataclass(frozen=True)
class AblateConfig:
    name: str = "default"
    root: str = "data/ablate"
    sandbox: str = "data/sandbox"
    arms: tuple[str, ...] = NAMES
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 2  # over the equal-size arms: every run sees epochs × pairs samples
    scorer_epochs: int = 4
    recipe: Recipe = field(default_factory=Recipe)
    executor: str = "ray"

    def __post_init__(self) -> None:
        unknown = [a for a in self.arms if a not in NAMES]
        if unknown or not self.arms:
            raise ValueError(f"--arms {','.join(unknown)}: use some of {', '.join(NAMES)}")
        if list(self.arms) != [a for a in NAMES if a in self.arms]:
            raise ValueError(f"--arms: give them in pipeline order ({', '.join(NAMES)})")
        if not self.seeds or self.epochs < 1:
            raise ValueError("give at least one seed and one epoch")


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "openwit.cli", *args], check=True)


def _done(folder: Path) -> bool:
    return (folder / "_summary.json").is_file()


def _kept(folder: Path) -> int:
    return int(json.loads((folder / "_summary.json").read_text())["kept"])


def _train(shards: Path, out: Path, cfg: AblateConfig, epochs: int, seed: int, eval_dir: Path):
    """One run with the default recipe, zero-shot evaluation only; skipped when finished."""
    ev = out / "eval.json"
    if ev.is_file() and json.loads(ev.read_text()).get("epoch") == epochs:
        return
    cmd = [sys.executable, "-m", "openwit.train.trainer", "--shards", str(shards)]
    cmd += ["--out", str(out), "--epochs", str(epochs), "--seed", str(seed)]
    cmd += ["--eval-dir", str(eval_dir), "--zero-shot-only", "--resume", "latest"]
    subprocess.run(cmd, check=True)


def _latest(run: Path) -> str:
    return str(sorted((run / "checkpoints").glob("step-*.pt"))[-1])


def run(cfg: AblateConfig) -> dict:
    out = Path(cfg.root) / cfg.name
    eval_dir = Path(cfg.sandbox) / "eval"
    crawl = out / "crawl"
    seconds: dict[str, float] = {}
    t0 = time.time()
    if not _done(crawl):
        _cli("crawl", "--out", str(crawl), "--t", str(NO_BALANCE))
    seconds["crawl"] = time.time() - t0
    common = ["--crawl", str(crawl), "--executor", cfg.executor]

    t0 = time.time()
    full: dict[str, Path] = {}
    scorer = None
    for arm in cfg.arms:
        if arm in NEEDS_SCORER and scorer is None:
            # DFN's bootstrap: the model of the last arm without a model's step scores.
            base = [a for a in NAMES[: NAMES.index(arm)] if a not in NEEDS_SCORER][-1]
            if base not in full:
                full[base] = _shards(out, base, cfg, common, None)
            _train(full[base], out / "scorer", cfg, cfg.scorer_epochs, 0, eval_dir)
            scorer = _latest(out / "scorer")
        full[arm] = _shards(out, arm, cfg, common, scorer)
    seconds["shards"] = time.time() - t0

    n = min(_kept(full[a]) for a in cfg.arms)
    t0 = time.time()
    arms = []
    for arm in cfg.arms:
        cut = out / "arms" / arm / "shards"
        if not _done(cut):  # the same decision on the arm's own scan, cut to n pairs
            shutil.rmtree(cut, ignore_errors=True)
            shutil.copytree(full[arm] / "_scan", cut / "_scan")
            args = shards_args(arm, cfg.recipe, scorer)
            _cli("shards", *common, "--out", str(cut), *args, "--max-samples", str(n))
        runs = []
        for seed in cfg.seeds:
            run_dir = out / "arms" / arm / f"seed{seed}"
            _train(cut, run_dir, cfg, cfg.epochs, seed, eval_dir)
            mean, per_set = results.seed_score(run_dir / "eval.json")
            runs.append({"seed": seed, "zero_shot_mean": round(mean, 4), "per_set": per_set})
        arms.append(
            {
                "name": arm,
                "pairs": _kept(cut),
                "pairs_before_cut": _kept(full[arm]),
                "seeds": list(cfg.seeds),
                "runs": runs,
            }
        )
    seconds["train"] = time.time() - t0
    table = results.table(arms)
    summary = {
        "config": asdict(cfg),
        "pairs": n,
        "samples_seen": n * cfg.epochs,
        "scorer": scorer,
        "arms": table,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "results.md", results.markdown(table))
    title = f"OpenWIT curation ablation: {cfg.name}"
    atomic_write_text(out / "report.html", results.report_html(table, title))
    return summary


def _shards(out: Path, arm: str, cfg: AblateConfig, common: list[str], scorer) -> Path:
    folder = out / "arms" / arm / "full"
    if not _done(folder):
        shutil.rmtree(folder, ignore_errors=True)
        _cli("shards", *common, "--out", str(folder), *shards_args(arm, cfg.recipe, scorer))
    return folder
