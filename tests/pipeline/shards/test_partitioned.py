"""The partitioned decision equals the one-process reference, row for row, on synthetic
fingerprints with planted duplicates, and its steps do what they say on tiny inputs."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from openwit.core.executor import LocalExecutor, RayExecutor
from openwit.pipeline.sandbox.fingerprints import FingerprintsConfig, audit, parts, write_part
from openwit.pipeline.shards import partitioned, route
from openwit.pipeline.shards.buckets import (
    bucket_counts,
    bucket_files,
    read_bucket,
    write_buckets,
)
from openwit.pipeline.shards.candidates import read_decisions
from openwit.pipeline.shards.decide import decide
from openwit.pipeline.shards.dedup.bands import band_candidates
from openwit.pipeline.shards.dedup.exact import exact_links
from openwit.pipeline.shards.dedup.hamming import HammingIndex
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


@pytest.mark.parametrize("bands,radius", [(3, None), pytest.param(2, 2, marks=pytest.mark.slow)])
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
    # The near-duplicate search saw no row an exact group drops: a flood of one picture
    # enters it once.
    d = tmp_path / "_decide"
    dropped = pq.read_table(d / "exact_of.parquet").column("v").to_numpy()
    routed = np.concatenate(
        [
            read_bucket(bucket_files(d / "bands"), "bucket", b).column("id").to_numpy()
            for b in range(len(route.band_pieces(dedup)) << layout.band_bits)
        ]
    )
    assert len(dropped) > 100 and not np.isin(routed, dropped).any()
    assert len(np.unique(routed)) + len(dropped) == sum(pq.read_metadata(f).num_rows for f in files)


@pytest.mark.slow
def test_partitioned_equals_one_process_on_100k_rows_on_ray(tmp_path, ray_cluster):
    files = synthetic(tmp_path, 100_000, 20_000)
    executor = RayExecutor(ray_cluster)
    placed = same_as_reference(tmp_path, files, DedupConfig(), executor, 50_000)
    assert placed["layout"].band_bits >= 4
    scores = audit(tmp_path)
    assert scores["near_dup_recall"] == 1.0 and scores["near_dup_precision"] >= 0.99
    assert scores["exact_recall"] == scores["exact_precision"] == 1.0


@pytest.mark.parametrize("bits,bands,radius", [(0, 3, 2), (2, 3, 2), (3, 2, 2), (1, 2, 1)])
def test_band_buckets_find_exactly_the_one_process_pairs(bits, bands, radius):
    rng = np.random.default_rng(bits)
    n = 4000
    codes = rng.integers(0, 2**63, (n, 3), dtype=np.int64).astype(np.uint64) * np.uint64(2)
    flips = rng.integers(0, 64, (n // 3, 4)).astype(np.uint64)  # copies 0-4 bits off a view
    view = rng.integers(0, 3, n // 3)
    codes[n - n // 3 :, 0] = codes[np.arange(n // 3), view] ^ np.bitwise_or.reduce(
        np.uint64(1) << flips, axis=1
    )
    ids = np.arange(n, dtype=np.int64)
    cfg = DedupConfig(phash_bands=bands, band_radius=radius)
    rows = pa.table({"phash": pa.array(list(codes), pa.list_(pa.uint64()))})
    entries = route._bands(rows, ids, bits, cfg)
    found, cut = set(), set()
    for bucket in np.unique(entries.column("bucket").to_numpy()):
        mine = entries.filter(pc.equal(entries.column("bucket"), bucket))
        args = (mine, int(bucket), bits, route.band_pieces(cfg), radius, 8)
        found |= {(r["q"], r["i"], r["view"]) for r in band_candidates(*args).to_pylist()}
        small = band_candidates(*args, table_entries=64)  # many tables per bucket
        cut |= {(r["q"], r["i"], r["view"]) for r in small.to_pylist()}
    index = HammingIndex(codes.ravel(), bands)
    want = {(q, i // 3, i % 3) for q, i in index.search(codes[:, 0], 8, radius).tolist()}
    want = {p for p in want if p[0] != p[1]}
    assert found == cut == want and len(want) >= n // 4


def test_buckets_come_back_whole_and_alone(tmp_path):
    t = pa.table({"bucket": [3, 1, 3, 0, 1], "v": [1, 2, 3, 4, 5]})
    write_buckets(t, "bucket", tmp_path / "a.arrow")
    write_buckets(t.slice(0, 2), "bucket", tmp_path / "b.arrow")
    write_buckets(t.slice(0, 0), "bucket", tmp_path / "c.arrow")
    files = [tmp_path / "a.arrow", tmp_path / "b.arrow", tmp_path / "c.arrow"]
    assert sorted(read_bucket(files, "bucket", 3).column("v").to_pylist()) == [1, 1, 3]
    assert read_bucket(files, "bucket", 2).num_rows == 0
    assert read_bucket(files, "bucket", 2).schema == t.schema
    assert bucket_counts(tmp_path / "a.arrow", "bucket", 4).tolist() == [1, 2, 0, 2]


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
