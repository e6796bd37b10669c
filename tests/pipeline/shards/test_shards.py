"""The shards job end to end on the small sandbox's crawl, on the session's Ray: scored against
the ground truth, the outputs' promises, DuckDB views, kill -9 then resume, a corrupt shard."""

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openwit.cli import app
from openwit.pipeline.shards.candidates import read_decisions
from openwit.pipeline.shards.model_score import ModelScorer, load_seconds
from tests.conftest import kill_9_when, shards_args

runner = CliRunner()


def digest(out: Path) -> dict[str, str]:
    names = [p for p in sorted(out.glob("[0-9]*.tar"))] + [out / "sizes.json"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in names}


def test_the_job_meets_its_targets_on_the_ground_truth(sharded):
    audit = sharded[1]["sandbox_audit"]
    assert audit["exact_dup_precision"] >= 0.999 and audit["exact_dup_recall"] >= 0.999
    assert audit["exact_dups_planted_removable"] >= 5
    assert audit["near_dup_precision"] >= 0.99 and audit["near_dup_recall"] >= 0.9
    assert audit["near_dups_removable"] >= 5
    assert audit["contamination_recall"] >= 0.95 and audit["contaminated_planted"] >= 3
    assert audit["language_f1"] >= 0.95


def test_final_shards_are_full_shuffled_and_match_their_tables(sharded, crawled):
    out, summary = sharded
    sizes = json.loads((out / "sizes.json").read_text())
    tars = sorted(out.glob("[0-9]*.tar"))
    assert list(sizes) == [t.name for t in tars] and sum(sizes.values()) == summary["kept"]
    assert all(n == 50 for n in list(sizes.values())[:-1]) and 0 < list(sizes.values())[-1] <= 50
    keys = []
    for t in tars:
        with tarfile.open(t) as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            assert len(names) == 3 * sizes[t.name]
            meta = json.loads(tar.extractfile(members[2]).read())
            assert {"url", "caption", "matched", "lang", "phash", "crawl_shard"} <= meta.keys()
        keys += [n.split(".")[0] for n in names[::3]]
    assert len(set(keys)) == len(keys)
    assert keys != sorted(keys)  # shuffled across the whole crawl
    con = duckdb.connect()
    kept = con.execute(
        f"SELECT key FROM '{out}/candidates.parquet' WHERE status = 'kept' ORDER BY key"
    ).fetchall()
    assert [k for (k,) in kept] == sorted(keys)
    n, bad = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE status = 'dropped'
                AND (drop_stage IS NULL OR drop_reason IS NULL)) FROM '{out}/candidates.parquet'"""
    ).fetchone()
    assert n == crawled[1]["candidates"] and bad == 0
    # Every duplicate names a survivor that exists and is not itself a duplicate.
    orphans = con.execute(
        f"""SELECT count(*) FROM '{out}/candidates.parquet' c
            LEFT JOIN '{out}/candidates.parquet' s ON s.key = c.dup_of
            WHERE c.dup_of IS NOT NULL AND (s.key IS NULL OR s.dup_of IS NOT NULL)"""
    ).fetchone()[0]
    assert orphans == 0


def test_sql_views_answer_what_was_lost_and_why(sharded):
    out, summary = sharded
    result = runner.invoke(
        app,
        [
            "sql",
            "SELECT sum(pairs) AS n FROM drops_by_reason",
            "--shards",
            str(out),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == summary["candidates"] - summary["kept"]
    result = runner.invoke(
        app,
        [
            "sql",
            "SELECT count(*) AS bad FROM entry_balance WHERE NOT (matched >= selected "
            "AND selected >= kept) OR entry IS NULL",
            "--shards",
            str(out),
            "--format",
            "json",
        ],
    )
    assert json.loads(result.stdout)["bad"] == 0
    result = runner.invoke(
        app,
        [
            "sql",
            "SELECT * FROM contamination ORDER BY set",
            "--shards",
            str(out),
            "--format",
            "csv",
        ],
    )
    lines = result.stdout.strip().splitlines()
    # One row per evaluation set: the pinned fixture has shapes, colours and retrieval.
    assert lines[0].startswith("set,all,overlap,clean")
    assert [line.split(",")[0] for line in lines[1:]] == ["colours", "retrieval", "shapes"]
    # The decisions view reads the partitioned tables: its kept rows are the shards' samples.
    sql = """SELECT count(*) AS n FROM decisions d JOIN samples s USING (key)
             WHERE d.drop_reason IS NULL AND d.shard IS NOT NULL"""
    result = runner.invoke(app, ["sql", sql, "--shards", str(out), "--format", "json"])
    assert json.loads(result.stdout)["n"] == summary["kept"]
    result = runner.invoke(app, ["sql", "SELECT nope FROM samples", "--shards", str(out)])
    assert result.exit_code == 2 and "nope" in result.output


def test_report_is_one_file_with_its_plots(sharded):
    html = (sharded[0] / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 6 and html.count("<figure>") >= 8


def test_rerun_does_nothing_and_other_settings_are_refused(sharded, crawled):
    out, _ = sharded
    before = digest(out)
    result = runner.invoke(app, shards_args(crawled[0], out))
    assert result.exit_code == 0 and "nothing to do" in result.output and digest(out) == before
    result = runner.invoke(app, [*shards_args(crawled[0], out), "--seed", "3"])
    assert result.exit_code == 2 and "other settings" in result.output


@pytest.mark.slow
def test_kill_9_mid_job_then_rerun_gives_identical_shards(sharded, crawled, ray_cluster, tmp_path):
    reference, _ = sharded
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "openwit.cli",
        *shards_args(crawled[0], out),
        "--ray-address",
        ray_cluster,
    ]
    kill_9_when(cmd, lambda: list((out / "_scan").glob("*.parquet")))
    assert not (out / "_summary.json").exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert digest(out) == digest(reference)
    assert not list(out.rglob(".*.tmp"))


def rerun_on_its_scan(reference: Path, crawl: Path, out: Path, *extra: str):
    """The job again on `reference`'s scan parts (copied, so only the decision runs)."""
    shutil.copytree(reference / "_scan", out / "_scan")
    return runner.invoke(app, [*shards_args(crawl, out), *extra])


def test_partitioned_decision_equals_the_one_process_reference(sharded, crawled, tmp_path):
    reference, _ = sharded  # the default: partitioned, one bucket of each kind at this size
    for name, extra in (("one", ["--one-process-decide"]), ("many", ["--rows-per-task", "300"])):
        out = tmp_path / name
        result = rerun_on_its_scan(reference, crawled[0], out, *extra)
        assert result.exit_code == 0, result.output
        assert read_decisions(out).equals(read_decisions(reference)), name
        assert digest(out) == digest(reference), name
        contamination = pq.read_table(out / "contamination.parquet")
        assert contamination.equals(pq.read_table(reference / "contamination.parquet"))
    assert len(list((tmp_path / "many" / "_placement").glob("*.parquet"))) > 1


@pytest.mark.slow
def test_caption_dedup_in_tasks_equals_the_one_process_reference(sharded, crawled, tmp_path):
    reference, _ = sharded
    outs = {}
    for name, extra in (("one", ["--one-process-decide"]), ("many", ["--rows-per-task", "300"])):
        outs[name] = tmp_path / name
        result = rerun_on_its_scan(
            reference, crawled[0], outs[name], "--caption-dedup", "0.8", *extra
        )
        assert result.exit_code == 0, result.output
    tasks, one = read_decisions(outs["many"]), read_decisions(outs["one"])
    assert tasks.equals(one)
    assert tasks.column("dup_kind").to_pylist().count("near_caption") >= 20
    assert digest(outs["many"]) == digest(outs["one"])


@pytest.mark.slow
def test_kill_9_mid_partitioned_decision_then_rerun_is_identical(
    sharded, crawled, ray_cluster, tmp_path
):
    reference, _ = sharded
    out = tmp_path / "killed"
    shutil.copytree(reference / "_scan", out / "_scan")
    cmd = [
        sys.executable,
        "-m",
        "openwit.cli",
        *shards_args(crawled[0], out),
        "--rows-per-task",
        "300",
        "--ray-address",
        ray_cluster,
    ]
    kill_9_when(cmd, lambda: len(list((out / "_decide" / "candidates").glob("*.arrow"))) > 1)
    assert not (out / "_placement" / "_decided.json").exists()  # killed mid-decision
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert read_decisions(out).equals(read_decisions(reference))
    assert digest(out) == digest(reference)
    assert not list(out.rglob(".*.tmp"))
    assert not (out / "_decide").exists()  # the scratch goes once the decision is recorded


def test_a_corrupt_crawl_shard_is_reported_and_skipped(crawled, tmp_path):
    crawl = tmp_path / "crawl"
    shutil.copytree(crawled[0], crawl)
    (crawl / "00001.tar").write_bytes(b"not a tar file" * 1000)
    out = tmp_path / "shards"
    result = runner.invoke(app, shards_args(crawl, out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "_summary.json").read_text())
    assert len(summary["errors"]) == 1 and "00001.tar" in summary["errors"][0]
    assert "skipped" in result.output
    lost = (
        duckdb.connect()
        .execute(
            f"SELECT count(*) FROM '{out}/candidates.parquet' "
            "WHERE drop_reason = 'unreadable_shard'"
        )
        .fetchone()[0]
    )
    assert lost > 0 and summary["kept"] > 0


@pytest.mark.slow
def test_model_score_filter_with_a_checkpoint_the_project_trained(
    crawled, tiny_checkpoint, tmp_path
):
    ckpt = tiny_checkpoint
    out = tmp_path / "scored"
    args = [*shards_args(crawled[0], out), "--score-with", str(ckpt)]
    result = runner.invoke(app, [*args, "--top-percent", "50"])
    assert result.exit_code == 0, result.output
    con = duckdb.connect()
    scored, dropped, low, high = con.execute(
        f"""SELECT count(model_score), count(*) FILTER (WHERE drop_reason = 'model_score'),
                   min(model_score), max(model_score) FROM '{out}/candidates.parquet'"""
    ).fetchone()
    assert scored > 50 and abs(dropped - scored / 2) <= 2 and -1 <= low <= high <= 1
    # The cut is exact: the median of the scores it ranked (rows no filter dropped), as
    # np.quantile over all of them gives it, though the job only merged per-part counts.
    ranked = con.execute(
        f"""SELECT model_score, drop_reason IS NOT DISTINCT FROM 'model_score'
            FROM '{out}/candidates.parquet'
            WHERE model_score IS NOT NULL
              AND (drop_stage IS DISTINCT FROM 'filter' OR drop_reason = 'model_score')"""
    ).fetchall()
    cutoff = np.quantile(np.array([s for s, _ in ranked]), 0.5)
    assert all(cut == (score < cutoff) for score, cut in ranked)
    refused = runner.invoke(app, [*shards_args(crawled[0], tmp_path / "x"), "--min-score", "0.2"])
    assert refused.exit_code == 2 and "--score-with" in refused.output


@pytest.mark.slow
def test_semdedup_in_tasks_equals_the_one_process_reference(
    sharded, crawled, tiny_checkpoint, tmp_path
):
    reference, _ = sharded
    semantic = ["--semdedup", "0.995", "--semdedup-with", str(tiny_checkpoint)]
    outs = {}
    for name, extra in (("one", ["--one-process-decide"]), ("many", ["--rows-per-task", "300"])):
        outs[name] = tmp_path / name
        result = rerun_on_its_scan(reference, crawled[0], outs[name], *semantic, *extra)
        assert result.exit_code == 0, result.output
    tasks, one = read_decisions(outs["many"]), read_decisions(outs["one"])
    assert tasks.equals(one)
    kinds = tasks.column("dup_kind").to_pylist()
    assert kinds.count("semantic_dup") > 0
    # Only rows every other step kept: the same image/caption duplicates as without it.
    before = read_decisions(reference).column("dup_kind").to_pylist()
    assert all(
        k == b or (b is None and k == "semantic_dup") for b, k in zip(before, kinds, strict=True)
    )
    assert digest(outs["many"]) == digest(outs["one"])
    summary = json.loads((outs["many"] / "_summary.json").read_text())
    assert summary["seconds"]["semdedup"] > 0
    # The workers' model load is reported apart (0 where a worker already held the model).
    assert 0 <= summary["semdedup_model_load"] <= summary["seconds"]["semdedup"]
    assert ModelScorer.cached(str(tiny_checkpoint)).load_seconds > 0
    assert load_seconds() >= ModelScorer.cached(str(tiny_checkpoint)).load_seconds
    # With --score-with the same model, the scan's embeddings serve: one forward pass per
    # image for both steps, and the same rows go.
    shared = tmp_path / "shared"
    scored = ["--score-with", str(tiny_checkpoint), "--semdedup", "0.995"]
    result = runner.invoke(app, [*shards_args(crawled[0], shared), *scored])
    assert result.exit_code == 0, result.output
    assert len(list((shared / "_scan" / "embeddings").glob("*.parquet"))) == len(
        list((shared / "_scan").glob("*.parquet"))
    )
    assert read_decisions(shared).equals(tasks)
