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
import os
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


def default_parallel() -> int:
    """Training runs side by side: a small model does not keep two cores busy in one process
    (measured: two one-thread runs finish together in 0.72 of the time of two in turn)."""
    return max(1, min(4, os.cpu_count() or 1))


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
    parallel: int = field(default_factory=default_parallel)  # training runs at once

    def __post_init__(self) -> None:
        unknown = [a for a in self.arms if a not in NAMES]
        if unknown or not self.arms:
            raise ValueError(f"--arms {','.join(unknown)}: use some of {', '.join(NAMES)}")
        if list(self.arms) != [a for a in NAMES if a in self.arms]:
            raise ValueError(f"--arms: give them in pipeline order ({', '.join(NAMES)})")
        if not self.seeds or self.epochs < 1:
            raise ValueError("give at least one seed and one epoch")
        if self.parallel < 1:
            raise ValueError(f"--parallel {self.parallel}: give >= 1 training runs at once")


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "openwit.cli", *args], check=True)


def _done(folder: Path) -> bool:
    return (folder / "_summary.json").is_file()


def _kept(folder: Path) -> int:
    return int(json.loads((folder / "_summary.json").read_text())["kept"])


def _train_command(
    shards: Path, out: Path, epochs: int, seed: int, eval_dir: Path, embeds: bool = False
):
    """One run with the default recipe, zero-shot evaluation only; None when finished. Only
    a model that embeds for the pipeline (`embeds`: the scorer) needs its ONNX image tower."""
    ev = out / "eval.json"
    if ev.is_file() and json.loads(ev.read_text()).get("epoch") == epochs:
        return None
    cmd = [sys.executable, "-m", "openwit.train.trainer", "--shards", str(shards)]
    cmd += ["--out", str(out), "--epochs", str(epochs), "--seed", str(seed)]
    cmd += [] if embeds else ["--no-onnx"]
    return cmd + ["--eval-dir", str(eval_dir), "--zero-shot-only", "--resume", "latest"]


def _train_all(runs: list[tuple[list[str], Path]], parallel: int) -> None:
    """Run the training commands `parallel` at a time, each on its share of the cores, its
    output in <run>/train.log; raise once all have stopped if any failed."""
    threads = max(1, (os.cpu_count() or 1) // parallel)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    pending, running, failed = list(runs), [], []
    while pending or running:
        while pending and len(running) < parallel:
            cmd, out = pending.pop(0)
            out.mkdir(parents=True, exist_ok=True)
            log = open(out / "train.log", "ab")  # noqa: SIM115 - closed when the run ends
            running.append((subprocess.Popen(cmd, stdout=log, stderr=log, env=env), out, log))
        time.sleep(0.5)
        for job in [j for j in running if j[0].poll() is not None]:
            running.remove(job)
            job[2].close()
            ok = job[0].returncode == 0
            print(f"{'trained' if ok else 'FAILED '} {job[1]}", flush=True)
            if not ok:
                failed.append(f"{job[1]} (exit {job[0].returncode}; see {job[1]}/train.log)")
    if failed:
        raise RuntimeError("training failed: " + "; ".join(failed))


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
            cmd = _train_command(
                full[base], out / "scorer", cfg.scorer_epochs, 0, eval_dir, embeds=True
            )
            _train_all([(cmd, out / "scorer")] if cmd else [], 1)
            scorer = _latest(out / "scorer")
        full[arm] = _shards(out, arm, cfg, common, scorer)
    seconds["shards"] = time.time() - t0

    n = min(_kept(full[a]) for a in cfg.arms)
    t0 = time.time()
    cuts = {arm: _cut(out, arm, cfg, common, scorer, n) for arm in cfg.arms}
    commands = []
    for arm in cfg.arms:
        for seed in cfg.seeds:
            run_dir = out / "arms" / arm / f"seed{seed}"
            cmd = _train_command(cuts[arm], run_dir, cfg.epochs, seed, eval_dir)
            commands += [(cmd, run_dir)] if cmd else []
    _train_all(commands, cfg.parallel)
    arms = []
    for arm in cfg.arms:
        scored = []
        for seed in cfg.seeds:
            mean, per_set = results.seed_score(out / "arms" / arm / f"seed{seed}" / "eval.json")
            scored.append({"seed": seed, "zero_shot_mean": round(mean, 4), "per_set": per_set})
        arms.append(
            {
                "name": arm,
                "pairs": _kept(cuts[arm]),
                "pairs_before_cut": _kept(full[arm]),
                "seeds": list(cfg.seeds),
                "runs": scored,
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
        "overall": results.overall(table),  # the last arm (full) against the first (raw)
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "results.md", results.markdown(table))
    title = f"OpenWIT curation ablation: {cfg.name}"
    atomic_write_text(out / "report.html", results.report_html(table, title))
    return summary


def _cut(out: Path, arm: str, cfg: AblateConfig, common: list[str], scorer, n: int) -> Path:
    """The arm's shards cut to `n` pairs: the same decision on the arm's own scan."""
    cut = out / "arms" / arm / "shards"
    if not _done(cut):
        shutil.rmtree(cut, ignore_errors=True)
        shutil.copytree(out / "arms" / arm / "full" / "_scan", cut / "_scan")
        args = shards_args(arm, cfg.recipe, scorer)
        _cli("shards", *common, "--out", str(cut), *args, "--max-samples", str(n))
    return cut


def _shards(out: Path, arm: str, cfg: AblateConfig, common: list[str], scorer) -> Path:
    folder = out / "arms" / arm / "full"
    if not _done(folder):
        shutil.rmtree(folder, ignore_errors=True)
        _cli("shards", *common, "--out", str(folder), *shards_args(arm, cfg.recipe, scorer))
    return folder
