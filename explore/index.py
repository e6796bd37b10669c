"""`openwit index`: image and text embeddings of every kept sample, and a search index.

Written next to the shards, in `<shards>/_index/`:

    meta.json      checkpoint, model, dim, rows, the search kind ("exact" or "ivf") and its knobs
    rows.parquet   row number -> pair_id, key (the order of both matrices)
    image.npy      float16 (rows, dim), unit-length image embeddings
    text.npy       float16 (rows, dim), unit-length caption embeddings
    image.faiss    an IVF index over image.npy, only when rows > EXACT_MAX
    parts/         the embeddings in chunks while they are made (a rerun resumes); then removed

When the shards job scored with the same checkpoint (`--score-with`), its scan kept each
scored image's embedding (`_scan/embeddings/`): those are taken as they are, and only the
images without one are read and embedded.

Search is cosine similarity (inner product of unit vectors). Up to EXACT_MAX rows it is one
matrix-vector product over all of them: exact, no training, and under 10 ms at 100k x 96 on
one core. Above that an inverted-file index (faiss IndexIVFFlat, sqrt(n) lists, trained on a
sample of 40 per list, NPROBE lists searched) keeps a query to a fraction of the rows.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from openwit.core.io import atomic_output, atomic_write_text
from openwit.explore.catalog import Catalog, Sources
from openwit.pipeline.shards.dedup.semantic_tasks import fill_in, stored_rows

EXACT_MAX = 100_000
NPROBE = 128  # of sqrt(n) lists: recall@10 0.94 at 1M (bench.explore), ~2 ms a query


@dataclass(frozen=True)
class IndexConfig:
    shards: str
    checkpoint: str
    crawl: str | None = None  # default: the crawl the shards job read
    batch_size: int = 64
    part_rows: int = 4096


def _rows(catalog: Catalog) -> pa.Table:
    """The kept samples in pair-id order, with where each image lies in the crawl."""
    return (
        catalog.con.cursor()
        .sql(
            """SELECT c.pair_id, c.key, c.caption, s.crawl_shard, s.image_offset, s.image_size,
                      s.scan_row
               FROM samples c JOIN scan s ON s.key = c.key
               WHERE c.status = 'kept' ORDER BY c.pair_id"""
        )
        .to_arrow_table()
    )


def _stored_images(shards: str, rows: pa.Table, checkpoint: str) -> tuple[np.ndarray, np.ndarray]:
    """(found, embeddings): each row's image embedding as the scan kept it, where the scan
    scored with `checkpoint` (semantic dedup reads the same files)."""
    found, emb = np.zeros(rows.num_rows, bool), None
    shard = rows.column("crawl_shard").to_numpy()
    scan_row = rows.column("scan_row").to_numpy()
    for s in np.unique(shard):
        mine = np.flatnonzero(shard == s)
        part = Path(shards) / "_scan" / f"{int(s):05d}.parquet"
        hit, vectors = stored_rows(part, checkpoint, scan_row[mine])
        if vectors is None:
            continue
        if emb is None:
            emb = np.zeros((rows.num_rows, vectors.shape[1]), np.float32)
        emb[mine[hit]], found[mine[hit]] = vectors[hit], True
    return found, emb if emb is not None else np.zeros((rows.num_rows, 0), np.float32)


def _embed_part(
    rows: pa.Table, crawl: str, scorer, batch_size: int, stored=None
) -> dict[str, np.ndarray]:
    """Image and caption embeddings of `rows`; the images `stored` (found, embeddings) holds
    are not read."""
    found, image = stored if stored is not None else (np.zeros(rows.num_rows, bool), None)
    image = fill_in(image, found, rows, crawl, lambda ims: scorer.image_embeddings(ims, batch_size))
    captions = [c or "" for c in rows.column("caption").to_pylist()]
    return {
        "image": image.astype(np.float16),
        "text": scorer.text_embeddings(captions).astype(np.float16),
    }


def build_index(cfg: IndexConfig, progress: bool = True) -> dict:
    """Embed every kept sample (resuming from finished parts) and write `_index/`."""
    from openwit.pipeline.shards.model_score import ModelScorer

    src = Sources.find(cfg.shards, crawl=cfg.crawl)
    if not src.crawl:
        raise FileNotFoundError(
            f"{cfg.shards}: the crawl its shards job read is not at hand; pass --crawl DIR"
        )
    catalog = Catalog(src, entry_stats=False)
    rows = _rows(catalog)
    out = Path(cfg.shards) / "_index"
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    stamp = {"checkpoint": str(cfg.checkpoint), "rows": rows.num_rows}
    stamp_path = parts / "_for.json"
    if stamp_path.exists() and json.loads(stamp_path.read_text()) != stamp:
        shutil.rmtree(parts)  # parts of another checkpoint or another shards job
        parts.mkdir(parents=True)
    atomic_write_text(stamp_path, json.dumps(stamp))
    scorer = ModelScorer(cfg.checkpoint)
    found, stored = _stored_images(cfg.shards, rows, cfg.checkpoint)
    n_parts = max(1, math.ceil(rows.num_rows / cfg.part_rows))
    with tqdm(total=rows.num_rows, desc="index", unit="img", disable=not progress) as bar:
        for p in range(n_parts):
            path = parts / f"{p:05d}.npz"
            at = slice(p * cfg.part_rows, (p + 1) * cfg.part_rows)
            chunk = rows.slice(p * cfg.part_rows, cfg.part_rows)
            if not path.exists():
                mine = (found[at], stored[at]) if found[at].any() else None
                emb = _embed_part(chunk, src.crawl, scorer, cfg.batch_size, mine)
                with atomic_output(path) as f:
                    np.savez(f, **emb)
            bar.update(chunk.num_rows)
    loaded = [np.load(parts / f"{p:05d}.npz") for p in range(n_parts)]
    image = np.concatenate([z["image"] for z in loaded])
    text = np.concatenate([z["text"] for z in loaded])
    for name, m in (("image", image), ("text", text)):
        with atomic_output(out / f"{name}.npy") as f:
            np.save(f, m)
    with atomic_output(out / "rows.parquet") as f:
        pq.write_table(rows.select(["pair_id", "key"]), f)
    meta = {
        "checkpoint": str(cfg.checkpoint),
        "rows": rows.num_rows,
        "dim": int(image.shape[1]) if image.size else scorer.dim,
        "config": asdict(cfg),
        **write_search_index(out, image.astype(np.float32)),
    }
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(parts)
    return meta


def write_search_index(out: Path, vectors: np.ndarray) -> dict:
    """Exact below EXACT_MAX rows; an IVF index file above. Returns its description."""
    n = len(vectors)
    (out / "image.faiss").unlink(missing_ok=True)
    if n <= EXACT_MAX:
        return {"search": "exact"}
    import faiss

    index = ivf(vectors)
    tmp = out / ".image.faiss.tmp"
    faiss.write_index(index, str(tmp))
    tmp.replace(out / "image.faiss")
    return {"search": "ivf", "nlist": index.nlist, "nprobe": NPROBE}


def ivf(vectors: np.ndarray, seed: int = 0):
    import faiss

    n, dim = vectors.shape
    nlist = max(1, int(math.sqrt(n)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(n, min(n, 40 * nlist), replace=False)]
    index.train(np.ascontiguousarray(sample, np.float32))
    index.add(np.ascontiguousarray(vectors, np.float32))
    index.nprobe = NPROBE
    return index


class Searcher:
    """Nearest neighbours by cosine over the image embeddings of an `_index/` folder."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.meta = json.loads((folder / "meta.json").read_text())
        self.rows = pq.read_table(folder / "rows.parquet")
        self.pair_ids = self.rows.column("pair_id").to_pylist()
        self.position = {p: i for i, p in enumerate(self.pair_ids)}
        self.image = np.load(folder / "image.npy").astype(np.float32)
        self.index = None
        if self.meta.get("search") == "ivf":
            import faiss

            self.index = faiss.read_index(str(folder / "image.faiss"))
            self.index.nprobe = self.meta.get("nprobe", NPROBE)

    def search(self, query: np.ndarray, k: int = 20) -> list[tuple[str, float]]:
        query = np.asarray(query, np.float32).reshape(1, -1)
        k = max(1, min(k, len(self.pair_ids)))
        if self.index is not None:
            scores, idx = self.index.search(query, k)
            scores, idx = scores[0], idx[0]
        else:
            sims = self.image @ query[0]
            idx = np.argpartition(-sims, k - 1)[:k]
            idx = idx[np.argsort(-sims[idx], kind="stable")]
            scores = sims[idx]
        return [(self.pair_ids[i], float(s)) for i, s in zip(idx, scores, strict=True) if i >= 0]

    def neighbours(self, pair_id: str, k: int = 20) -> list[tuple[str, float]] | None:
        i = self.position.get(pair_id)
        if i is None:
            return None
        return [h for h in self.search(self.image[i], k + 1) if h[0] != pair_id][:k]
