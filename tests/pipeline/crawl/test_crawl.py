"""The crawl end to end on the small sandbox, on the session's Ray: exact reconciliation with the
ground truth, idempotent reruns, and kill -9 in the middle then resume."""

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openwit.cli import app
from openwit.cli.sandbox import ensure_sandbox
from openwit.pipeline.crawl.job import CrawlConfig, CrawlConfigMismatch, _check_config
from openwit.pipeline.sandbox.build import FORMAT_VERSION
from tests.conftest import crawl_args as args
from tests.conftest import kill_9_when

runner = CliRunner()


def final_rows(out: Path) -> list[tuple]:
    paths = sorted(out.glob("[0-9]*.parquet"))
    t = pa.concat_tables([pq.read_table(p, columns=["key", "pair_id", "status"]) for p in paths])
    return sorted(
        zip(*(t.column(c).to_pylist() for c in ("key", "pair_id", "status")), strict=True)
    )


def test_every_status_reconciles_with_the_ground_truth(crawled):
    out, summary = crawled
    audit = summary["sandbox_audit"]
    assert audit["harvested"] == audit["candidates"] and audit["missed"] == audit["extra"] == 0
    assert audit["downloads_checked"] == summary["selected"] > 100
    assert audit["status_mismatches"] == {}
    assert audit["robots_violations"] == 0 and audit["trap_connections"] == 0
    assert summary["balanced_out"] > 0  # balancing bit
    assert summary["downloaded"] > 0 and summary["failures"]


def test_shards_follow_img2dataset_conventions(crawled):
    import tarfile

    out, summary = crawled
    stats = json.loads((out / "00000_stats.json").read_text())
    assert {
        "count",
        "successes",
        "failed_to_download",
        "failed_to_resize",
        "status_dict",
    } <= stats.keys()
    with tarfile.open(out / "00000.tar") as tar:
        names = tar.getnames()
        key = names[0].split(".")[0]
        assert {f"{key}.jpg", f"{key}.txt", f"{key}.json"} <= set(names)
        meta = json.loads(tar.extractfile(f"{key}.json").read())
    assert meta["key"] == key and meta["status"] == "success" and meta["url"].startswith("http")
    table = pq.read_table(out / "00000.parquet")
    assert table.num_rows == stats["count"] and stats["successes"] == len(names) // 3


def test_a_second_run_does_nothing_and_says_so(crawled, sandbox_dir, query_list):
    out, _ = crawled
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    result = runner.invoke(app, args(sandbox_dir, query_list[1], out))
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_other_settings_on_the_same_output_are_refused(crawled, sandbox_dir, query_list):
    out, _ = crawled
    result = runner.invoke(app, [*args(sandbox_dir, query_list[1], out), "--seed", "9"])
    assert result.exit_code == 2 and "other settings (config.balance.seed differs)" in result.output


def test_a_crawl_of_another_sandbox_build_is_refused(tmp_path):
    # A rebuilt sandbox serves other images at the same URLs.
    cfg = CrawlConfig(inputs=("sandbox/crawl-data",), out=str(tmp_path), inputs_version="a1")
    _check_config(cfg, tmp_path, "q")
    _check_config(cfg, tmp_path, "q")
    with pytest.raises(CrawlConfigMismatch, match=r"\(config\.inputs_version differs\)"):
        _check_config(replace(cfg, inputs_version="b2"), tmp_path, "q")


def test_a_sandbox_of_an_older_format_is_rebuilt_with_its_own_settings(sandbox_dir, tmp_path):
    root = tmp_path / "sandbox"
    shutil.copytree(sandbox_dir, root)
    meta = root / "sandbox.json"
    current = meta.read_bytes()
    meta.write_text(json.dumps({**json.loads(current), "format_version": FORMAT_VERSION - 1}))
    digest = ensure_sandbox(root)
    assert meta.read_bytes() == current  # the same seed, size and shares as before
    assert digest == hashlib.sha256(current).hexdigest()[:16] == ensure_sandbox(root)


@pytest.mark.slow
def test_kill_9_mid_crawl_then_rerun_gives_the_same_keys_and_statuses(
    crawled, sandbox_dir, query_list, ray_cluster, tmp_path
):
    reference, _ = crawled
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "openwit.cli",
        *args(sandbox_dir, query_list[1], out),
        "--ray-address",
        ray_cluster,
    ]
    total = len(list(reference.glob("*_stats.json")))
    kill_9_when(cmd, lambda: list(out.glob("*_stats.json")))
    done = len(list(out.glob("*_stats.json")))
    assert 1 <= done < total and not (out / "_summary.json").exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert final_rows(out) == final_rows(reference)
    assert not list(out.rglob(".*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("listing", ["warc.paths.gz", "wat.paths.gz"])
def test_a_common_crawl_listing_drives_the_same_crawl(
    crawled, sandbox_dir, query_list, tmp_path, listing
):
    """The sandbox's listings in Common Crawl's format (one relative path a line), read
    with the default prefix (the folder above crawl-data/): WARC or WAT, the same pairs,
    keys and statuses as the crawl of the WARC folder."""
    reference, summary = crawled
    out = tmp_path / "listed"
    path = sandbox_dir / "crawl-data" / "SANDBOX-2024-18" / listing
    flags = [str(path), "--serve-sandbox", *(["--wat"] if listing.startswith("wat") else [])]
    crawl, *rest = args(sandbox_dir, query_list[1], out)
    result = runner.invoke(app, [crawl, *flags, *rest])
    assert result.exit_code == 0, result.output
    got = json.loads((out / "_summary.json").read_text())
    assert got["candidates"] == summary["candidates"] and got["inputs"] == summary["inputs"]
    assert final_rows(out) == final_rows(reference)
