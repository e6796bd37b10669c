"""The arms of the curation ablation: each adds one step to the one before it.

    raw            every downloaded pair (a crawl with no balancing), nothing dropped
    balanced       + MetaCLIP's balancing (at most t pairs per query entry)
    filtered       + DataComp's basic filters (language, caption, image size and aspect)
    deduped        + exact and near-duplicate images
    decontaminated + copies of the evaluation images
    semdedup       + semantic duplicates (SemDeDup, embedded by the scorer model)
    full           + the model-score filter (DFN's bootstrap: the scorer model, trained on the
                     previous arm's data, keeps the best k% of pairs by image-text cosine)

An arm is a list of `openwit shards` switches; every arm is then cut to the same number of
pairs (`--max-samples`), so that size is not the variable.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMES = ("raw", "balanced", "filtered", "deduped", "decontaminated", "semdedup", "full")
NEEDS_SCORER = ("semdedup", "full")  # their steps embed with a trained model


@dataclass(frozen=True)
class Recipe:
    balance_t: int = 700  # the sandbox crawl's own cap per entry (pipeline/sandbox/presets.py)
    semdedup: float = 0.99  # cosine threshold (0.95 drops a third of the sandbox: docs/curation.md)
    top_percent: float = 70.0  # the model-score filter keeps this share of pairs


def shards_args(arm: str, recipe: Recipe, scorer: str | None = None) -> list[str]:
    """The `openwit shards` switches of an arm."""
    if arm not in NAMES:
        raise ValueError(f"unknown arm {arm!r}: use one of {', '.join(NAMES)}")
    k = NAMES.index(arm)
    args: list[str] = []
    if k >= 1:
        args += ["--balance", str(recipe.balance_t)]
    if k < 2:
        args += ["--no-filters"]
    if k < 3:
        args += ["--no-dedup"]
    elif k < 4:
        args += ["--no-decontaminate"]
    if k >= 5:
        if scorer is None:
            raise ValueError(f"arm {arm} needs the scorer model's checkpoint")
        args += ["--semdedup", str(recipe.semdedup), "--semdedup-with", scorer]
    if k >= 6:
        args += ["--score-with", scorer, "--top-percent", str(recipe.top_percent)]
    return args
