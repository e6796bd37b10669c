"""The switches ablations use (`openwit ablate`): each arm's shards hold exactly the rows its
steps allow, on the small sandbox's crawl."""

import json
import tarfile

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openwit.cli import app
from openwit.pipeline.shards.candidates import read_decisions
from tests.conftest import shards_args

pytestmark = pytest.mark.slow
runner = CliRunner()
HARD = ("decode_error", "missing_from_tar", "unreadable_shard")  # no arm keeps these


def pairs(t, a, b) -> list[tuple]:
    return list(zip(t.column(a).to_pylist(), t.column(b).to_pylist(), strict=True))


def run(crawl, out, *extra) -> dict:
    result = runner.invoke(app, [*shards_args(crawl, out), *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / "_summary.json").read_text())


def tar_keys(out) -> list[str]:
    keys = []
    for t in sorted(out.glob("[0-9]*.tar")):
        with tarfile.open(t) as tar:
            keys += sorted({m.name.split(".")[0] for m in tar.getmembers()})
    return sorted(keys)


def downloaded(crawl) -> list[str]:
    rows = pq.read_table(sorted(crawl.glob("[0-9]*.parquet")), columns=["key", "status"])
    return sorted(
        k
        for k, s in zip(*(rows.column(c).to_pylist() for c in ("key", "status")), strict=True)
        if s == "success"
    )


def test_raw_keeps_every_usable_download_and_nothing_else(crawled, tmp_path):
    crawl = crawled[0]
    out = tmp_path / "raw"
    run(crawl, out, "--no-filters", "--no-dedup")
    d = read_decisions(out)
    reasons = set(d.column("drop_reason").to_pylist()) - {None}
    assert reasons <= set(HARD)  # no filter, duplicate or contamination drop
    usable = sorted(
        k
        for k, r in zip(
            d.column("key").to_pylist(), d.column("drop_reason").to_pylist(), strict=True
        )
        if r is None
    )
    assert tar_keys(out) == usable and len(usable) >= 0.97 * len(downloaded(crawl))


def test_balance_drops_exactly_what_metaclip_s_rule_drops(crawled, tmp_path):
    from openwit.pipeline.crawl.balance import keep_mask
    from openwit.pipeline.shards.job import balance_probabilities

    crawl = crawled[0]
    out = tmp_path / "balanced"
    run(crawl, out, "--no-filters", "--no-dedup", "--balance", "3")
    p = balance_probabilities(str(crawl), 3)
    rows = pq.read_table(sorted(crawl.glob("[0-9]*.parquet")))
    rows = rows.filter(pa.array(np.array(rows.column("status").to_pylist()) == "success"))
    expect = {
        k
        for k, keep in zip(rows.column("key").to_pylist(), keep_mask(rows, p, 0), strict=True)
        if not keep
    }
    d = read_decisions(out)
    got = {
        k
        for k, s in zip(
            d.column("key").to_pylist(), d.column("drop_stage").to_pylist(), strict=True
        )
        if s == "balance"
    }
    assert got == expect and 0 < len(got) < rows.num_rows
    assert not set(tar_keys(out)) & got


def test_each_step_adds_only_its_own_drops(sharded, crawled, tmp_path):
    crawl = crawled[0]
    filtered = tmp_path / "filtered"
    run(crawl, filtered, "--no-dedup")  # filters, no dedup, no decontamination
    stages = set(read_decisions(filtered).column("drop_stage").to_pylist()) - {None}
    assert stages == {"filter"}
    deduped = tmp_path / "deduped"
    run(crawl, deduped, "--no-decontaminate")
    stages = set(read_decisions(deduped).column("drop_stage").to_pylist()) - {None}
    assert stages == {"filter", "dedup"}
    full = set(read_decisions(sharded[0]).column("drop_stage").to_pylist()) - {None}
    assert full == {"filter", "dedup", "decontaminate"}


def test_max_samples_keeps_a_uniform_subsample_of_the_same_arm(sharded, crawled, tmp_path):
    full, summary = sharded
    n = summary["kept"] // 2
    out = tmp_path / "half"
    half = run(crawled[0], out, "--max-samples", str(n))
    assert half["kept"] == n and len(tar_keys(out)) == n
    assert set(tar_keys(out)) < set(tar_keys(full))  # the first n of the same shuffle
    con = duckdb.connect()
    cut = con.execute(
        f"""SELECT count(*) FROM '{out}/candidates.parquet'
            WHERE drop_stage = 'subsample' AND drop_reason = 'max_samples'"""
    ).fetchone()[0]
    assert cut == summary["kept"] - n
    sizes = json.loads((out / "sizes.json").read_text())
    assert sum(sizes.values()) == n
