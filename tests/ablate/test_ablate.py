"""The ablation's arms and its table (the switches: tests/pipeline/shards/test_arms.py)."""

import sys

import pytest

from openwit.ablate import results
from openwit.ablate.arms import NAMES, Recipe, shards_args
from openwit.ablate.job import AblateConfig, _train_all


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
    assert rows[1]["delta_sd"] == pytest.approx(0.0058, abs=1e-4)  # diffs .10, .11, .10
    assert rows[1]["verdict"] == "helps" and "verdict" not in rows[0]
    md = results.markdown(rows)
    assert "| full | 100 | 3 | 0.213 ± 0.015 | +0.103 ± 0.006, p=0.0" in md
    assert rows[1]["vs_first"]["arm"] == "raw" and rows[1]["vs_first"]["verdict"] == "helps"
    assert "| helps | +0.103 (p=0.0" in md and "full − raw: +0.103 ± 0.006" in md
    html = results.report_html(rows, "t")
    assert "<img" in html and "full − raw" in html


def test_a_step_helps_or_hurts_only_beyond_the_seeds_spread():
    e = results.effect([0.30, 0.20, 0.26], [0.22, 0.24, 0.21])  # +.08, -.04, +.05
    assert e["delta"] == pytest.approx(0.03) and e["verdict"] == "within the seeds' spread"
    assert results.effect([0.20, 0.21, 0.19], [0.25, 0.27, 0.24])["verdict"] == "hurts"
    same = results.effect([0.3, 0.4], [0.2, 0.3])  # +0.1 on both seeds: no spread, no t-test
    assert same["paired_p"] is None and same["verdict"] == "helps"
    assert results.effect([0.3], [0.2])["verdict"] == "within the seeds' spread"  # one seed


def _sleeper(folder, seconds: float, code: int = 0) -> list[str]:
    """A command that records when it ran in `folder`/times, then exits with `code`."""
    script = (
        "import sys, time, os; t0 = time.time(); time.sleep(float(sys.argv[2])); "
        "open(os.path.join(sys.argv[1], 'times'), 'w').write(f'{t0} {time.time()}'); "
        "print('threads', os.environ['OMP_NUM_THREADS']); sys.exit(int(sys.argv[3]))"
    )
    return [sys.executable, "-c", script, str(folder), str(seconds), str(code)]


def test_training_runs_go_side_by_side_at_most_parallel_at_once(tmp_path):
    dirs = [tmp_path / f"run{i}" for i in range(5)]
    _train_all([(_sleeper(d, 0.6), d) for d in dirs], parallel=2)
    spans = [tuple(map(float, (d / "times").read_text().split())) for d in dirs]
    for t0, _ in spans:  # at no start were more than two runs going
        assert sum(a <= t0 < b for a, b in spans) <= 2
    assert max(b for _, b in spans) - min(a for a, _ in spans) < 0.6 * 5  # not one at a time
    assert all("threads" in (d / "train.log").read_text() for d in dirs)


def test_a_failed_run_is_named_after_the_others_finish(tmp_path):
    ok, bad = tmp_path / "ok", tmp_path / "bad"
    with pytest.raises(RuntimeError, match=r"bad \(exit 3; see .*bad/train.log\)"):
        _train_all([(_sleeper(bad, 0.1, 3), bad), (_sleeper(ok, 0.5), ok)], parallel=2)
    assert (ok / "times").is_file()
