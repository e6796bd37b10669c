"""The 400M plan: its arithmetic, its FLOP count, its command."""

import json

import pytest
from typer.testing import CliRunner

from openwit.cli import app
from openwit.infra import plan as p


def test_counts():
    assert p.parse_count("400M") == 400_000_000
    assert p.parse_count("1.6B") == 1_600_000_000
    assert p.parse_count("20k") == 20_000 and p.parse_count("123") == 123
    with pytest.raises(ValueError, match="not a count"):
        p.parse_count("4x")


def test_vit_b32_flops_match_the_known_figure():
    # CLIP ViT-B/32: 4.4 GMACs image + 2.9 GMACs text per pair forward, i.e. ~14.6 GFLOPs.
    forward = p.train_flops_per_sample("ViT-B-32") / 3
    assert 13.5e9 < forward < 15.5e9


def test_plan_arithmetic(tmp_path):
    cfg = p.PlanConfig(pairs=1_000_000, model="openwit-tiny", results=tmp_path)
    a = p.plan(cfg)
    assert all(src == "reference run" for _, src in a["rates_per_core_s"].values())
    work = a["work"]
    assert work["scanned"] == pytest.approx(1e6 / p.YIELDS["kept"][0])
    assert work["pages"] == pytest.approx(work["candidates"] / 9.5)
    assert a["core_hours"]["match"] == pytest.approx(work["candidates"] / 74_340 / 3600)
    flops = a["train"]["train_gflops_per_sample"] * 1e9
    gpu_h = 1e6 * 32 * flops / (312e12 * 0.2) / 3600
    assert a["train"]["gpu_hours"] == pytest.approx(gpu_h)
    assert a["wall_hours"]["train"] == pytest.approx(gpu_h / 64)
    b = p.plan(p.PlanConfig(pairs=2_000_000, model="openwit-tiny", results=tmp_path))
    for stage, hours in a["core_hours"].items():
        assert b["core_hours"][stage] == pytest.approx(2 * hours)
    half = p.YIELDS["kept"][0] / 2
    c = p.plan(p.PlanConfig(1_000_000, "openwit-tiny", results=tmp_path, yields={"kept": half}))
    assert c["work"]["downloads"] == pytest.approx(2 * a["work"]["downloads"])
    assert c["yields"]["kept"] == [half, "set by you"]


def test_plan_reads_bench_results(tmp_path):
    (tmp_path / "harvest.json").write_text(
        json.dumps({"date": "2026-01-02T00:00:00", "ours": {"pages_per_s": 500.0}})
    )
    r = p.plan(p.PlanConfig(1_000_000, "openwit-tiny", results=tmp_path))
    assert r["rates_per_core_s"]["harvest_pages"] == [500.0, "bench 2026-01-02"]


def test_command():
    runner = CliRunner()
    res = runner.invoke(app, ["plan", "--pairs", "1M", "--model", "openwit-tiny", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["target_pairs"] == 1_000_000 and out["train"]["gpu_hours"] > 0
    bad = runner.invoke(app, ["plan", "--yield", "nope=1"])
    assert bad.exit_code == 2 and "--yield 'nope=1'" in bad.output
