"""The partitioned decision equals the one-process reference, row for row, on synthetic
fingerprints with planted duplicates, and its steps do what they say on tiny inputs."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openwit.core.executor import LocalExecutor, RayExecutor
from openwit.pipeline.sandbox.fingerprints import FingerprintsConfig, audit, parts, write_part
from openwit.pipeline.shards import partitioned
from openwit.pipeline.shards.buckets import read_bucket, write_buckets
from openwit.pipeline.shards.candidates import read_decisions
from openwit.pipeline.shards.decide import decide
from openwit.pipeline.shards.dedup.bands import band_candidates
from openwit.pipeline.shards.dedup.exact import exact_links
from openwit.pipeline.shards.dedup.hamming import band_edges, band_keys
from openwit.pipeline.shards.dedup.images import DedupConfig, components
from openwit.pipeline.shards.dedup.link import components as sql_components
from openwit.pipeline.shards.job import ShardsConfig
from openwit.pipeline.shards.route import Layout


def synthetic(out, rows: int, part_rows: int):
    cfg = FingerprintsConfig(rows=rows, part_rows=part_rows, window=rows)
    for p in range(parts(cfg)):
        write_part(cfg, out, p)
    return sorted((out / "_scan").glob("*.parquet"))


def same_as_reference(out, files, dedup: DedupConfig, executor, rows_per_task: int) -> dict:
    placed = partitioned.decide(files, out, dedup, None, executor, 7, 100, rows_per_task)
    cfg = ShardsConfig(shard_size=100, seed=7, dedup=dedup)
    reference, _ = decide(pq.read_table(files), [], cfg, None)
    got = read_decisions(out)
    assert got.equals(reference.sort_by("key").select(got.column_names))
    return placed


@pytest.mark.parametrize("bands,radius", [(3, None), (2, 2)])
def test_partitioned_equals_one_process_on_synthetic_rows(tmp_path, bands, radius):
    files = synthetic(tmp_path, 12_000, 2_500)
    dedup = DedupConfig(phash_bands=bands, band_radius=radius)
    # Few rows per task: many buckets of every kind, queries copied to several.
    placed = same_as_reference(tmp_path, files, dedup, LocalExecutor(), 1_000)
    layout = placed["layout"]
    assert layout.exact_buckets > 1 and layout.band_bits > 1 and layout.groups > 1
    scores = audit(tmp_path)
    assert scores["exact_recall"] == scores["exact_precision"] == 1.0
    assert scores["near_dup_planted"] > 300 and scores["near_dup_precision"] >= 0.99
    assert scores["near_dup_recall"] == 1.0 if bands == 3 else scores["near_dup_recall"] >= 0.95
    assert placed["kept"] == sum(placed["group_counts"])


@pytest.mark.slow
def test_partitioned_equals_one_process_on_100k_rows_on_ray(tmp_path, ray_cluster):
    files = synthetic(tmp_path, 100_000, 20_000)
    executor = RayExecutor(ray_cluster)
    placed = same_as_reference(tmp_path, files, DedupConfig(), executor, 50_000)
    assert placed["layout"].band_bits >= 4
    scores = audit(tmp_path)
    assert scores["near_dup_recall"] == 1.0 and scores["near_dup_precision"] >= 0.99
    assert scores["exact_recall"] == scores["exact_precision"] == 1.0


@pytest.mark.parametrize("bits,bands,radius", [(0, 3, 2), (2, 3, 2), (1, 2, 2)])
def test_a_band_bucket_cut_into_small_tables_finds_the_same_pairs(bits, bands, radius):
    rng = np.random.default_rng(bits)
    n = 3000
    codes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    flips = rng.integers(0, 64, (n // 3, 3)).astype(np.uint64)
    near = codes[: n // 3] ^ np.bitwise_or.reduce(np.uint64(1) << flips, axis=1)
    ids = np.arange(n + n // 3, dtype=np.int64)
    all_codes = np.concatenate([codes, near])
    lo, hi = band_edges(bands)[0]
    top = (band_keys(all_codes, lo, hi) >> (hi - lo - bits)) if bits else 0 * ids
    entries = pa.table(  # bucket 0's index entries, and every query (the test keeps them all)
        {
            "id": np.concatenate([ids[top == 0], ids]),
            "view": pa.array(np.r_[np.zeros((top == 0).sum()), -np.ones(len(ids))], pa.int8()),
            "code": np.concatenate([all_codes[top == 0], all_codes]),
        }
    )
    whole = band_candidates(entries, 0, bits, bands, radius, 8)
    cut = band_candidates(entries, 0, bits, bands, radius, 8, table_entries=64)
    pairs = {tuple(r.values()) for r in whole.select(["q", "i"]).to_pylist()}
    assert pairs == {tuple(r.values()) for r in cut.select(["q", "i"]).to_pylist()}
    assert len(pairs) >= 50 and cut.num_rows == whole.num_rows


def test_buckets_come_back_whole_and_alone(tmp_path):
    t = pa.table({"bucket": [3, 1, 3, 0, 1], "v": [1, 2, 3, 4, 5]})
    write_buckets(t, "bucket", tmp_path / "a.parquet")
    write_buckets(t.slice(0, 2), "bucket", tmp_path / "b.parquet")
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    assert sorted(read_bucket(files, "bucket", 3).column("v").to_pylist()) == [1, 1, 3]
    assert read_bucket(files, "bucket", 2).num_rows == 0
    assert pq.ParquetFile(tmp_path / "a.parquet").num_row_groups == 3


def test_exact_links_join_each_copy_to_the_first_of_its_value():
    t = pa.table(
        {
            "kind": pa.array([0, 0, 1, 0, 1, 1], pa.int8()),
            "value": ["u", "v", "u", "u", "p", "p"],
            "id": [5, 2, 9, 1, 4, 3],
        }
    )
    links = exact_links(t).to_pylist()
    assert sorted((r["a"], r["b"]) for r in links) == [(1, 5), (3, 4)]


def test_sql_components_equal_union_find():
    import duckdb

    rng = np.random.default_rng(0)
    edges = rng.integers(0, 400, (300, 2))
    edges = np.concatenate([edges, [[i, i + 1] for i in range(500, 560)]])  # a long chain
    con = duckdb.connect()
    con.register("e_arrow", pa.table({"a": edges[:, 0], "b": edges[:, 1]}))
    con.execute("CREATE TABLE e AS SELECT * FROM e_arrow")
    sql_components(con, "e", "g")
    got = {}
    for v, c in con.execute("SELECT v, c FROM g").fetchall():
        got.setdefault(c, set()).add(v)
    want = {frozenset(g) for g in components(561, edges)}
    assert {frozenset(g) for g in got.values() if len(g) > 1} == want
    assert all(c == min(g) for c, g in got.items())


def test_layout_grows_with_rows_and_placement_finds_each_shards_ranges(tmp_path):
    assert Layout.of(20_000, 10, 2_000_000) == Layout(1, 0, 1)
    big = Layout.of(400_000_000, 10, 2_000_000)
    assert big.exact_buckets == big.groups == 200 and big.band_bits == 8
    files = partitioned.placement_files(tmp_path, [150, 0, 30, 120], 100)
    names = {s: [f.name for f in fs] for s, fs in files.items()}
    assert names == {
        0: ["00000.parquet"],
        1: ["00000.parquet", "00002.parquet", "00003.parquet"],
        2: ["00003.parquet"],
    }
