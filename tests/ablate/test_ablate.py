"""The ablation's arms and its table (the switches: tests/pipeline/shards/test_arms.py)."""

import pytest

from openwit.ablate import results
from openwit.ablate.arms import NAMES, Recipe, shards_args
from openwit.ablate.job import AblateConfig


def test_each_arm_adds_one_step_to_the_one_before():
    r = Recipe(balance_t=5, semdedup=0.9, top_percent=50)
    got = {a: shards_args(a, r, "s.pt") for a in NAMES}
    assert got["raw"] == ["--no-filters", "--no-dedup"]
    assert got["balanced"] == ["--balance", "5", "--no-filters", "--no-dedup"]
    assert got["filtered"] == ["--balance", "5", "--no-dedup"]
    assert got["deduped"] == ["--balance", "5", "--no-decontaminate"]
    assert got["decontaminated"] == ["--balance", "5"]
    assert got["semdedup"] == ["--balance", "5", "--semdedup", "0.9", "--semdedup-with", "s.pt"]
    assert got["full"] == [*got["semdedup"], "--score-with", "s.pt", "--top-percent", "50"]
    with pytest.raises(ValueError, match="scorer"):
        shards_args("full", r, None)


def test_arms_are_named_in_pipeline_order():
    assert AblateConfig(arms=("raw", "full")).arms == ("raw", "full")
    with pytest.raises(ValueError, match="pipeline order"):
        AblateConfig(arms=("full", "raw"))
    with pytest.raises(ValueError, match="use some of"):
        AblateConfig(arms=("raw", "cleaned"))


def test_the_table_has_spread_and_a_paired_test_against_the_previous_arm():
    def arm(name, scores):
        runs = [
            {"seed": s, "zero_shot_mean": v, "per_set": {"a": v, "b": v}}
            for s, v in enumerate(scores)
        ]
        return {"name": name, "pairs": 100, "seeds": [0, 1, 2], "runs": runs}

    rows = results.table([arm("raw", [0.10, 0.12, 0.11]), arm("full", [0.20, 0.23, 0.21])])
    assert rows[0]["name"] == "raw" and rows[-1]["name"] == "full"
    assert rows[0]["zero_shot_mean"] == pytest.approx(0.11) and rows[0]["zero_shot_sd"] > 0
    assert rows[1]["delta_vs_previous"] == pytest.approx(0.1033, abs=1e-3)
    assert 0 < rows[1]["paired_p_vs_previous"] < 0.05  # the same seeds, a steady gain
    md = results.markdown(rows)
    assert "| full | 100 | 3 | 0.213 ± 0.015 | +0.103 (p=" in md
    assert "<img" in results.report_html(rows, "t")
