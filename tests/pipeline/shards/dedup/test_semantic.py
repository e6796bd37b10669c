"""Semantic dedup (SemDeDup): the step on planted embeddings, and its partitioned tasks."""

import numpy as np
import pyarrow as pa
import pytest

from openwit.pipeline.shards.dedup import semantic_tasks as sem
from openwit.pipeline.shards.dedup.semantic import (
    SemDedupConfig,
    cluster_dups,
    kmeans,
    normalise,
    semantic_dups,
)


def planted(n_topics=40, per_topic=12, dups=3, dim=32, seed=0):
    """Topics of distinct items (cosine well below 0.9 to each other), and for some items a
    few re-renders: the item plus small noise (cosine above 0.97)."""
    rng = np.random.default_rng(seed)
    centres = normalise(rng.normal(size=(n_topics, dim)))
    x, truth = [], []
    for t in range(n_topics):
        for _ in range(per_topic):
            base = normalise((centres[t] + 0.6 * rng.normal(size=dim) / np.sqrt(dim))[None])[0]
            x.append(base)
            truth.append(-1)
            if rng.random() < 0.3:
                src = len(x) - 1
                for _ in range(dups):
                    x.append(
                        normalise((base + 0.03 * rng.normal(size=dim) / np.sqrt(dim))[None])[0]
                    )
                    truth.append(src)
    return np.array(x, np.float32), np.array(truth)


def _groups(of: np.ndarray) -> np.ndarray:
    root = np.arange(len(of))
    root[of >= 0] = of[of >= 0]
    return root


@pytest.mark.parametrize("faiss", [True, False])
def test_semdedup_finds_the_planted_re_renders_and_nothing_else(faiss, monkeypatch):
    if not faiss:
        monkeypatch.setitem(__import__("sys").modules, "faiss", None)
    elif pytest.importorskip("faiss") is None:
        pytest.skip("faiss-cpu is not installed")
    x, truth = planted()
    dup = semantic_dups(x, SemDedupConfig(threshold=0.95, checkpoint=None, clusters=None))
    group = _groups(truth)
    removable = sum(len(np.flatnonzero(group == g)) - 1 for g in np.unique(group))
    dropped = np.flatnonzero(dup >= 0)
    # Precision: every drop points into its own group; recall: each group keeps one.
    assert all(group[i] == group[dup[i]] for i in dropped)
    assert len(dropped) >= 0.95 * removable
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        assert (dup[members] < 0).sum() >= 1  # a group never loses every copy


def test_the_survivor_is_the_member_farthest_from_the_centroid():
    centroid = normalise(np.array([[1.0, 0, 0]]))[0]
    near = normalise(np.array([[1.0, 0.05, 0], [1.0, 0.06, 0.0]]))  # two prototypes
    x = np.vstack([near, normalise(np.array([[1.0, 0.3, 0.0]]))])  # and an outlier
    dup = cluster_dups(x, centroid, np.arange(3), threshold=0.9)
    # The outlier stays (SemDeDup's rule); each other points at its closest earlier mate.
    assert dup.tolist() == [1, 2, -1]
    # The answer does not depend on the members' order.
    perm = np.array([2, 0, 1])
    again = cluster_dups(x[perm], centroid, perm, threshold=0.9)
    assert [perm[a] if a >= 0 else -1 for a in again] == [-1, 1, 2]


def _dense_cluster_dups(x, centroid, ids, threshold):
    """The whole similarity matrix at once: what the tiles must add up to."""
    x = normalise(x)
    order = np.lexsort((ids, -(1.0 - x @ centroid)))
    sim = np.triu(x[order] @ x[order].T, k=1)
    best = sim.argmax(axis=0)
    hit = sim[best, np.arange(len(x))] > threshold
    dup = np.full(len(x), -1)
    dup[order[hit]] = order[best[hit]]
    return dup


@pytest.mark.parametrize("block", [1, 2, 5, 16, 2048])
def test_a_cluster_compared_tile_by_tile_equals_the_whole_matrix(block):
    x, truth = planted(n_topics=1, per_topic=60, seed=5)
    centroid = normalise(x.mean(0, keepdims=True))[0]
    ids = np.arange(len(x))[::-1].copy()
    want = _dense_cluster_dups(x, centroid, ids, 0.95)
    got = cluster_dups(x, centroid, ids, 0.95, block=block)
    assert (want >= 0).sum() >= 10 and np.array_equal(got, want)
    # Equal members: each later one points at the first-ranked of them, whatever the tiles.
    same = np.repeat(normalise(np.array([[1.0, 0.2, 0.1]])), 5, axis=0)
    far = normalise(np.array([[0.0, 1.0, 0.0]]))
    dup = cluster_dups(
        np.vstack([same, far]),
        normalise(np.array([[1.0, 0.5, 0.0]]))[0],
        np.arange(6),
        0.99,
        block=block,
    )
    assert dup.tolist() == [-1, 0, 0, 0, 0, -1]


def test_kmeans_puts_every_row_in_its_nearest_cluster():
    x, _ = planted(n_topics=8, per_topic=20, dups=0)
    c, assign = kmeans(x, 8, 20, 0)
    assert np.allclose(np.linalg.norm(c, axis=1), 1, atol=1e-5)
    assert (assign == np.argmax(normalise(x) @ c.T, axis=1)).all()


def test_clustered_in_buckets_equals_all_at_once():
    x, _ = planted(seed=3)
    ids = (np.arange(len(x), dtype=np.int64) % 7 << 32) | np.arange(len(x), dtype=np.int64)
    dim = x.shape[1]
    t = pa.table(
        {
            "id": pa.array(ids),
            "key": pa.array([f"k{i}" for i in range(len(x))]),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), dim),
        }
    )
    cfg = SemDedupConfig(threshold=0.95, checkpoint=None)
    # Parts in any split and order give the same centroids; buckets the same duplicates.
    parts = [t.filter(pa.array(ids >> 32 == p)) for p in range(7)]
    c = sem.centroids(parts[::-1], cfg)
    assert np.array_equal(c, sem.centroids([t], cfg))
    whole = sem.dedup_clusters(sem.assign(t, c, 1), c, cfg)
    split = pa.concat_tables(
        [
            sem.dedup_clusters(b.filter(pa.array(b.column("bucket").to_numpy() == k)), c, cfg)
            for b in [sem.assign(t, c, 5)]
            for k in range(5)
        ]
    ).sort_by("id")
    assert whole.num_rows > 0 and whole.equals(split)


def test_kmeans_samples_enough_rows_for_its_centroids():
    # At 400M rows sqrt(n / 2) is ~14,000 centroids: 200,000 rows would give each 14.
    k = round(np.sqrt(400e6 / 2))
    assert sem.sample_size(10) == sem.SAMPLE and sem.sample_size(k) == 64 * k
    ids = (np.int64(3) << 32) | np.arange(2_000_000, dtype=np.int64)
    picked = sem.sample(ids, total=4_000_000, limit=sem.sample_size(k))
    assert abs(picked.sum() - sem.sample_size(k) / 2) < 0.01 * sem.sample_size(k)
    # By a hash of the id: a row is picked or not whatever part it came in.
    assert np.array_equal(sem.sample(ids[::3], 4_000_000, sem.sample_size(k)), picked[::3])
    assert sem.sample(ids[:10], total=10).all()


def test_a_threshold_without_a_model_is_refused(tmp_path):
    from openwit.pipeline.shards.job import ShardsConfig

    with pytest.raises(ValueError, match="--semdedup-with"):
        ShardsConfig(semdedup=SemDedupConfig(threshold=0.9))
    with pytest.raises(ValueError, match="no checkpoint"):
        ShardsConfig(semdedup=SemDedupConfig(threshold=0.9, checkpoint=str(tmp_path / "x.pt")))
    with pytest.raises(ValueError, match="cosine"):
        SemDedupConfig(threshold=1.5, checkpoint="x")


def test_the_scans_embeddings_serve_when_its_model_is_the_one_asked(tmp_path, monkeypatch):
    """A scan that scored with checkpoint C kept each scored row's embedding: semantic dedup
    with C takes them and reads no image; with another checkpoint it embeds again."""
    import pyarrow.parquet as pq

    from openwit.pipeline.shards import model_score
    from openwit.pipeline.shards.scan import EMBEDDINGS, checkpoint_id

    ckpt, other = tmp_path / "c.pt", tmp_path / "other.pt"
    ckpt.write_bytes(b"c"), other.write_bytes(b"o")
    part = tmp_path / "_scan" / "00003.parquet"
    (part.parent / EMBEDDINGS).mkdir(parents=True)
    vectors = normalise(np.random.default_rng(0).normal(size=(5, 8))).astype(np.float32)
    flat = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 8)
    stored = pa.table({"row": pa.array([9, 1, 4, 6, 7], pa.int32()), "embedding": flat})
    stored = stored.replace_schema_metadata({"checkpoint": checkpoint_id(str(ckpt))})
    pq.write_table(stored, part.parent / EMBEDDINGS / part.name)
    ids = (np.int64(3) << 32) | np.array([4, 9, 7], np.int64)
    rows = pa.table({"key": ["a", "b", "c"], "id": ids})
    got = sem.embed_part(rows, str(tmp_path / "no-crawl"), SemDedupConfig(0.9, str(ckpt)), part)
    np.testing.assert_array_equal(sem.matrix(got), vectors[[2, 0, 4]])

    class Embedder:  # stands in for a model: records what it was asked to embed
        def image_embeddings(self, images, batch_size):
            asked.extend(images)
            return np.ones((len(images), 8), np.float32)

    asked: list = []
    monkeypatch.setitem(model_score._LOADED, str(other), Embedder())
    monkeypatch.setattr(sem, "read_images", lambda crawl, rows: rows.column("key").to_pylist())
    again = sem.embed_part(rows, "crawl", SemDedupConfig(0.9, str(other)), part)
    assert asked == ["a", "b", "c"] and (sem.matrix(again) == 1).all()
