"""The explorer's index and API on the small sandbox's shards, over a real uvicorn server."""

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request

import duckdb
import numpy as np
import pytest

from openwit.explore import index as index_mod
from openwit.explore.app import ExploreConfig, running
from openwit.explore.index import IndexConfig, Searcher, build_index


def get(base: str, path: str, **params) -> tuple[int, object]:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = r.read()
            kind = r.headers.get("content-type", "")
            return r.status, json.loads(body) if "json" in kind else body
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def indexed(sharded, tiny_checkpoint, tmp_path_factory):
    """A copy of the shards folder with an index made by a checkpoint the project trained."""
    folder = tmp_path_factory.mktemp("explore") / "shards"
    shutil.copytree(sharded[0], folder)
    crawl = json.loads((sharded[0] / "_config.json").read_text())["config"]["crawl"]
    meta = build_index(IndexConfig(str(folder), str(tiny_checkpoint), crawl=crawl), False)
    return folder, crawl, meta


@pytest.fixture(scope="module")
def server(indexed):
    folder, crawl, _ = indexed
    with running(ExploreConfig(str(folder), crawl=crawl)) as base:
        yield base


def test_index_holds_every_kept_sample(indexed):
    folder, _, meta = indexed
    kept = duckdb.sql(
        f"SELECT pair_id FROM '{folder}/candidates.parquet' WHERE status = 'kept' ORDER BY 1"
    ).fetchall()
    s = Searcher(folder / "_index")
    assert meta["rows"] == len(kept) == len(s.pair_ids) and meta["search"] == "exact"
    assert s.pair_ids == [r[0] for r in kept]
    norms = np.linalg.norm(s.image, axis=1)
    assert np.allclose(norms, 1, atol=1e-2)
    assert not (folder / "_index" / "parts").exists()
    top = s.search(s.image[5], 3)  # an image's nearest image is itself
    assert top[0][0] == s.pair_ids[5] and top[0][1] == pytest.approx(1, abs=1e-2)


def test_index_resumes_from_its_parts(indexed, tiny_checkpoint, tmp_path, monkeypatch):
    folder, crawl, _ = indexed
    copy = tmp_path / "shards"
    shutil.copytree(folder, copy)
    cfg = IndexConfig(str(copy), str(tiny_checkpoint), crawl=crawl, part_rows=256)
    calls = []
    real = index_mod._embed_part

    def counting(rows, *a):
        calls.append(rows.num_rows)
        if len(calls) == 3:
            raise KeyboardInterrupt  # stopped in the middle of the third part
        return real(rows, *a)

    monkeypatch.setattr(index_mod, "_embed_part", counting)
    with pytest.raises(KeyboardInterrupt):
        build_index(cfg, False)
    assert len(list((copy / "_index" / "parts").glob("*.npz"))) == 2
    calls.clear()
    monkeypatch.setattr(index_mod, "_embed_part", real)
    again = build_index(cfg, False)
    assert again["rows"] == Searcher(folder / "_index").image.shape[0]
    a, b = Searcher(copy / "_index").image, Searcher(folder / "_index").image
    assert np.allclose(a, b, atol=2e-3)  # same model, same images: the same embeddings


def _keep_embeddings(folder, checkpoint: str, rng) -> dict[str, np.ndarray]:
    """Write `_scan/embeddings/` as a scan that scored with `checkpoint` would (random unit
    vectors for every other row of each part); returns key -> vector."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from openwit.pipeline.shards.model_score import embedding_column
    from openwit.pipeline.shards.scan import EMBEDDINGS, checkpoint_id

    out = {}
    for part in sorted((folder / "_scan").glob("*.parquet")):
        keys = pq.read_table(part, columns=["key"]).column("key").to_pylist()
        rows = np.arange(0, len(keys), 2)
        v = rng.normal(size=(len(rows), 96)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        t = pa.table({"row": pa.array(rows, pa.int64()), "embedding": embedding_column(v)})
        t = t.replace_schema_metadata({"checkpoint": checkpoint_id(checkpoint)})
        (folder / "_scan" / EMBEDDINGS).mkdir(exist_ok=True)
        pq.write_table(t, folder / "_scan" / EMBEDDINGS / part.name)
        out.update({keys[r]: v[i] for i, r in enumerate(rows)})
    return out


def test_index_takes_the_scans_embeddings_of_the_same_checkpoint(
    indexed, tiny_checkpoint, tmp_path, monkeypatch
):
    folder, crawl, _ = indexed
    copy = tmp_path / "shards"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("_index"))
    kept = _keep_embeddings(copy, str(tiny_checkpoint), np.random.default_rng(0))
    from openwit.pipeline.shards.dedup import semantic_tasks

    read, real = [], semantic_tasks.read_images
    monkeypatch.setattr(semantic_tasks, "read_images", lambda c, t: read.append(t) or real(c, t))
    build_index(IndexConfig(str(copy), str(tiny_checkpoint), crawl=crawl, part_rows=256), False)
    s = Searcher(copy / "_index")
    keys = s.rows.column("key").to_pylist()
    from_scan = [i for i, k in enumerate(keys) if k in kept]
    assert 0 < len(from_scan) < len(keys)
    want = np.stack([kept[keys[i]] for i in from_scan])
    assert np.allclose(s.image[from_scan], want, atol=1e-3)  # as stored, in float16
    assert sum(r.num_rows for r in read) == len(keys) - len(from_scan)  # only the others read
    others = [i for i in range(len(keys)) if keys[i] not in kept]
    fresh = Searcher(folder / "_index").image
    assert np.allclose(s.image[others], fresh[others], atol=2e-3)  # embedded as before

    # Another checkpoint's embeddings are not this model's: every image embedded again.
    (copy / "_index" / "meta.json").unlink()
    other = tmp_path / "other.pt"
    shutil.copy(tiny_checkpoint, other)
    read.clear()
    build_index(IndexConfig(str(copy), str(other), crawl=crawl), False)
    assert sum(r.num_rows for r in read) == len(keys)
    assert np.allclose(Searcher(copy / "_index").image, fresh, atol=2e-3)


def test_ivf_finds_what_exact_search_finds(indexed):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ivf = index_mod.ivf(x)
    _, got = ivf.search(x[:200], 1)
    assert (got[:, 0] == np.arange(200)).mean() >= 0.95


def test_api_facets_samples_and_a_sample_page(server, indexed):
    folder = indexed[0]
    status, info = get(server, "/api/info")
    assert status == 200 and info["search"] and info["kept"] > 100
    _, facets = get(server, "/api/facets")
    outcomes = {f["value"]: f["count"] for f in facets["outcome"]}
    total = duckdb.sql(f"SELECT count(*) FROM '{folder}/candidates.parquet'").fetchall()[0][0]
    assert sum(outcomes.values()) == total and outcomes["kept"] == info["kept"]
    _, near = get(server, "/api/samples", outcome="dedup: near_image", limit=5)
    assert near["total"] == outcomes["dedup: near_image"] and len(near["rows"]) == 5
    # a facet's own filter leaves its other values in view; the others narrow it
    _, narrowed = get(server, "/api/facets", outcome="dedup: near_image")
    assert {f["value"] for f in narrowed["outcome"]} == set(outcomes)
    assert sum(f["count"] for f in narrowed["host"]) <= near["total"]
    _, s = get(server, f"/api/sample/{near['rows'][0]['pair_id']}")
    assert s["survivor"] is not None and s["survivor"]["key"] == s["dup_of"]
    assert s["stages"][-1] == {"stage": "dedup", "state": "dropped", "reason": "near_image"}
    assert s["entries"] and 0 < s["balance_probability"] <= 1
    status, img = get(server, f"/api/image/{s['pair_id']}")
    assert status == 200 and img[:3] == b"\xff\xd8\xff"


def test_entry_table_sorts_and_links(server):
    _, by_kept = get(server, "/api/entries", sort="kept", order="desc", limit=20)
    kept = [r["kept"] for r in by_kept["rows"]]
    assert kept == sorted(kept, reverse=True) and by_kept["total"] > 20
    top = by_kept["rows"][0]
    assert top["matched"] >= top["selected"] >= top["kept"]
    _, rows = get(server, "/api/samples", entry=top["entry"], outcome="kept", limit=1)
    assert rows["total"] == top["kept"]


def test_search_and_neighbours(server):
    _, found = get(server, "/api/search", q="a red circle", k=10)
    assert len(found["rows"]) == 10
    scores = [r["score"] for r in found["rows"]]
    assert scores == sorted(scores, reverse=True)
    first = found["rows"][0]["pair_id"]
    _, nn = get(server, f"/api/neighbours/{first}", k=5)
    assert len(nn["rows"]) == 5 and first not in {r["pair_id"] for r in nn["rows"]}


@pytest.mark.parametrize(
    "path",
    [
        "/api/image/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/image/../../pyproject.toml",
        "/static/..%2F..%2Fapp.py",
        "/static/app.py",
        "/api/sample/%2e%2e%2f_config.json",
    ],
)
def test_paths_cannot_leave_the_data_folder(server, path):
    status, body = get(server, path)
    assert status in (404, 400), (path, status)
    assert b"root:" not in body and b"[project]" not in body and b"def " not in body


def test_injection_is_a_value_not_sql(server):
    _, info = get(server, "/api/info")
    for attack in ("kept' OR '1'='1", "kept'; DROP TABLE entry_stats; --"):
        status, rows = get(server, "/api/samples", outcome=attack)
        assert status == 200 and rows["total"] == 0
    status, _ = get(server, "/api/entries", sort="kept; DROP TABLE entry_stats")
    assert status == 400
    status, _ = get(server, "/api/entries", order="desc, (SELECT 1)")
    assert status == 400
    _, after = get(server, "/api/info")
    assert after == info and get(server, "/api/entries")[0] == 200


def test_without_an_index_search_is_off_and_the_rest_works(sharded):
    crawl = json.loads((sharded[0] / "_config.json").read_text())["config"]["crawl"]
    with running(ExploreConfig(str(sharded[0]), crawl=crawl)) as base:
        _, info = get(base, "/api/info")
        assert info["search"] is False
        assert get(base, "/api/search", q="a red circle")[0] == 404
        assert get(base, "/api/samples", outcome="kept")[1]["total"] == info["kept"]
        status, page = get(base, "/")
        assert status == 200 and b'id="search-form" hidden' in page


def test_without_the_query_list_entries_go_by_id(sharded):
    from openwit.explore.catalog import Catalog, Sources

    cat = Catalog(Sources(str(sharded[0]), crawl=None, queries=None, t=None))
    table = cat.entry_table("matched", "desc", 0, 5)
    assert table["rows"] and all(r["entry"].startswith("#") for r in table["rows"])
    first = table["rows"][0]
    got = cat.samples({"entry": first["entry"]}, 0, 1)
    assert got["total"] == first["matched"]
    assert cat.sample(got["rows"][0]["pair_id"])["balance_probability"] is None


def test_cli_refuses_a_folder_without_candidates_and_warns_when_exposed(
    sharded, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from openwit.cli import app
    from openwit.explore import app as app_mod

    runner = CliRunner()
    result = runner.invoke(app, ["explore", "--shards", str(tmp_path)])
    assert result.exit_code == 2 and "no candidates.parquet" in result.output
    result = runner.invoke(app, ["index", "--shards", str(sharded[0]), "--checkpoint", "no.pt"])
    assert result.exit_code == 2 and "no checkpoint at no.pt" in result.output
    served = []
    monkeypatch.setattr(app_mod, "serve", lambda cfg, host, port: served.append((host, port)))
    result = runner.invoke(app, ["explore", "--shards", str(sharded[0]), "--host", "0.0.0.0"])
    assert result.exit_code == 0 and "warning" in result.output and served == [("0.0.0.0", 8000)]
    result = runner.invoke(app, ["explore", "--shards", str(sharded[0])])
    assert "warning" not in result.output and served[-1] == ("127.0.0.1", 8000)
