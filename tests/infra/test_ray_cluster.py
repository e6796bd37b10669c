"""Crawl and shards on a real two-node Ray cluster, the worker node killed mid-job."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import crawl_args, shards_args

SCRIPT = Path(__file__).with_name("multinode.py")


def on_two_nodes(kill_glob: str, after: int, args: list[str]) -> dict:
    cmd = [sys.executable, str(SCRIPT), kill_glob, str(after), "--", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_crawl_survives_a_killed_node(crawled, sandbox_dir, query_list, tmp_path):
    out = tmp_path / "crawl"
    args = crawl_args(sandbox_dir, query_list[1], out)
    info = on_two_nodes(str(out / "[0-9]*_stats.json"), 1, args)
    assert info["killed"] and info["nodes_alive"] == 1
    summary, local = json.loads((out / "_summary.json").read_text()), crawled[1]
    assert info["files_at_kill"] < summary["shards"]  # killed mid-job, not after it
    for key in ("inputs", "pages", "candidates", "matched", "selected", "shards"):
        assert summary[key] == local[key], key
    rows = pq.read_table(sorted(out.glob("[0-9]*.parquet"))).to_pylist()
    assert len(rows) == len({r["pair_id"] for r in rows}) == summary["selected"]
    audit = summary["sandbox_audit"]
    assert audit["missed"] == audit["extra"] == 0
    assert audit["robots_violations"] == 0 and audit["trap_connections"] == 0


@pytest.mark.slow
def test_shards_survive_a_killed_node(crawled, sharded, tmp_path):
    out = tmp_path / "shards"
    args = shards_args(crawled[0], out)
    info = on_two_nodes(str(out / "_scan" / "*.parquet"), 1, args)
    assert info["killed"] and info["nodes_alive"] == 1
    assert info["files_at_kill"] < crawled[1]["shards"]
    reference = sharded[0]
    assert (out / "sizes.json").read_text() == (reference / "sizes.json").read_text()
    tars = sorted(p.name for p in reference.glob("*.tar"))
    assert tars and tars == sorted(p.name for p in out.glob("*.tar"))
    for name in tars:  # the same bytes as the one-node job
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
