"""The S3 round trip against a real S3 API on loopback (moto's server): the crawl reads WARC
from S3, shards are written to S3, the trainer streams them from S3, DuckDB queries them there.

Credentials and the endpoint come from the environment only, as on a cluster. Every S3 call
goes to 127.0.0.1 (AWS_ENDPOINT_URL; instance metadata lookups disabled)."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from openwit.cli import app
from tests.conftest import crawl_args, shards_args

# A second crawl and shards job, through a moto server: end to end, so `make test` runs it and
# the inner loop (`pytest -m "not slow"`) does not.
pytestmark = pytest.mark.slow
BUCKET = "openwit-test"


@pytest.fixture(scope="module")
def s3():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir(BUCKET)
    yield fs
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


def _run(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def round_trip(s3, sandbox_dir, query_list, crawled, tmp_path_factory):
    s3.put(str(sandbox_dir / "crawl-data"), f"{BUCKET}/sandbox/", recursive=True)
    tmp = tmp_path_factory.mktemp("s3")
    crawl = tmp / "crawl"
    args = crawl_args(sandbox_dir, query_list[1], crawl)
    args[1:1] = [f"s3://{BUCKET}/sandbox/crawl-data/", "--serve-sandbox"]
    _run([*args, "--executor", "local"])
    shards = f"s3://{BUCKET}/shards"
    args = shards_args(crawl, "OUT")
    args[args.index("OUT")] = shards
    first = _shards(tmp, args)
    again = _shards(tmp, args)
    return crawl, shards, first, again, (tmp, args)


def _shards(cwd, args) -> str:
    here = os.getcwd()
    os.chdir(cwd)  # the staging folder lands under cwd/data/.staging
    try:
        return _run([*args, "--executor", "local"]).output
    finally:
        os.chdir(here)


def test_crawl_reads_warc_from_s3(round_trip, crawled):
    crawl = round_trip[0]
    ours, local = json.loads((crawl / "_summary.json").read_text()), crawled[1]
    assert ours["inputs"] == local["inputs"] > 0
    for key in ("pages", "candidates", "matched", "selected"):
        assert ours[key] == local[key], key
    audit = ours["sandbox_audit"]  # every download's status as the sandbox planted it
    assert audit["missed"] == audit["extra"] == 0 and audit["status_mismatches"] == {}
    assert audit["robots_violations"] == 0 and audit["trap_connections"] == 0


def test_shards_written_to_s3(round_trip, s3):
    _, shards, first, again, _ = round_trip
    names = {p.rsplit("/", 1)[1] for p in s3.find(shards.removeprefix("s3://"))}
    summary = json.loads(s3.cat(f"{shards}/_summary.json"))
    assert {"sizes.json", "candidates.parquet", "contamination.parquet", "report.html"} <= names
    assert sum(n.endswith(".tar") for n in names) == summary["shards"] > 0
    assert not any("_scan" in p for p in s3.find(shards.removeprefix("s3://")))
    assert "uploaded" in first and "already complete" in again


def test_trainer_streams_from_s3(round_trip, tmp_path):
    _, shards, *_ = round_trip
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "openwit.train.trainer",
        "--shards",
        f"{shards}/",
        "--out",
        str(out),
    ]
    cmd += ["--batch-size", "8", "--workers", "1", "--max-steps", "3", "--log-every", "1"]
    cmd += ["--shuffle-buffer", "20", "--checkpoint-every", "1000", "--precision", "fp32"]
    subprocess.run(cmd, check=True, timeout=600, env=os.environ.copy())
    steps = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if "loss" in r][-1] == 3


def test_duckdb_views_over_s3(round_trip, s3):
    _, shards, *_ = round_trip
    summary = json.loads(s3.cat(f"{shards}/_summary.json"))
    res = _run(["sql", "SELECT count(*) AS n FROM samples", "--shards", shards, "--format", "json"])
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"n": summary["kept"]}


def test_an_upload_cut_short_is_finished_by_the_rerun(round_trip, s3):
    _, shards, _, _, (cwd, args) = round_trip
    tars = sorted(p for p in s3.find(shards.removeprefix("s3://")) if p.endswith(".tar"))
    before = s3.cat(tars[-1])
    s3.rm([f"{shards}/_summary.json", tars[-1]])  # as if the upload died before its end
    assert "uploaded" in _shards(cwd, args)
    assert s3.cat(tars[-1]) == before and s3.exists(f"{shards}/_summary.json")


def test_explore_reads_an_output_on_s3(round_trip, s3):
    import urllib.request

    from openwit.explore.app import ExploreConfig, running

    crawl, shards, *_ = round_trip
    summary = json.loads(s3.cat(f"{shards}/_summary.json"))
    with running(ExploreConfig(shards, crawl=str(crawl))) as base:
        info = json.loads(urllib.request.urlopen(f"{base}/api/info").read())
        assert info["kept"] == summary["kept"] and info["search"] is False
        kept = json.loads(urllib.request.urlopen(f"{base}/api/samples?outcome=kept&limit=3").read())
        for row in kept["rows"]:  # no scan uploaded: each image from its output shard's tar
            data = urllib.request.urlopen(f"{base}/api/image/{row['pair_id']}").read()
            assert data[:3] == b"\xff\xd8\xff"
