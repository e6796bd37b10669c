"""Scan-format rows without a crawl: N synthetic fingerprints whose duplicates are planted,
so the shards job's decision can be run and scored at millions of rows.

Each row is an original or a planted copy of an earlier original (its source), chosen by a
hash of the row number, so any part can be written alone and the truth is known:
    exact_url     the same URL and image as the source
    exact_pixels  the same image under another URL
    near_image    another encoding: its whole-image pHash is one of the source's views'
                  (view 0, or a crop window) with 0-8 bits flipped (as many as the sandbox's
                  near pairs differ by), its thumbnail that view's, and it is smaller than the
                  source, so the source survives
Some originals fail a filter or copy an evaluation image (never a source). The pHashes are
uniform random 64-bit codes: the best case for the Hamming search, whose buckets fill only by
chance. The thumbnails come from a pool of random ones (`prototypes` sets of views), which
Parquet's dictionary keeps small on disk; two unrelated rows share a thumbnail with
chance 1 / (prototypes x views), so the confirm step still rejects nearly every
chance pHash match.

    _scan/00000.parquet …   the scan's columns, `part_rows` rows each
    _truth/00000.parquet    key, role, source key
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core import storage
from openwit.core.io import atomic_output
from openwit.core.vocab import SUCCESS
from openwit.pipeline.shards.dedup.images import THUMB_BYTES, VIEWS

ROLES = ("original", "exact_url", "exact_pixels", "near_image", "filtered", "contaminated")
# Per 1,000 rows: how many of each role (the rest are originals that may be a source).
SHARES = {"exact_url": 15, "exact_pixels": 15, "near_image": 40, "filtered": 100, "contaminated": 2}
_M = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class FingerprintsConfig:
    rows: int
    part_rows: int = 50_000
    seed: int = 0
    prototypes: int = 64  # distinct thumbnail sets
    window: int = 200_000  # a copy's source is at most this many rows before it


def mix(x: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of x + salt: a fixed pseudo-random 64-bit value per input."""
    with np.errstate(over="ignore"):
        z = (x.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)) & _M
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def roles(rows: np.ndarray, seed: int) -> np.ndarray:
    """Index into ROLES per row number."""
    u = (mix(rows, seed * 16 + 1) % np.uint64(1000)).astype(np.int64)
    out = np.zeros(len(rows), np.int8)
    lo = 0
    for name, share in SHARES.items():
        out[(u >= lo) & (u < lo + share)] = ROLES.index(name)
        lo += share
    out[rows < 1] = 0
    return out


def sources(rows: np.ndarray, seed: int, window: int) -> np.ndarray:
    """Each copy's source: the first of a few earlier rows that is a plain original."""
    src = np.full(len(rows), -1, np.int64)
    for attempt in range(8):
        span = np.minimum(rows, window).astype(np.uint64)
        back = (mix(rows, seed * 16 + 2 + attempt) % np.maximum(span, 1)).astype(np.int64) + 1
        cand = np.maximum(rows - back, 0)
        ok = (src < 0) & (roles(cand, seed) == 0)
        src[ok] = cand[ok]
    return src


def codes(rows: np.ndarray, seed: int) -> np.ndarray:
    """An original's pHash per view: (n, views) uniform uint64."""
    v = np.arange(len(VIEWS), dtype=np.uint64)
    return mix(rows[:, None].astype(np.uint64) * np.uint64(len(VIEWS)) + v, seed * 16 + 3)


# How far a near copy's pHash lies from the view it copies: the mix measured over the 5,071
# confirmed near pairs of the default sandbox (bits: pairs).
DISTANCES = {0: 4318, 2: 427, 4: 187, 6: 99, 8: 40}


def _flips(rows: np.ndarray, seed: int) -> np.ndarray:
    """A mask of k distinct random bits per row, k drawn from DISTANCES."""
    bits = np.array(list(DISTANCES), np.int64)
    cum = np.cumsum(list(DISTANCES.values()))
    u = (mix(rows, seed * 16 + 4) % np.uint64(cum[-1])).astype(np.int64)
    k = bits[np.searchsorted(cum, u, side="right")]
    start = (mix(rows, seed * 16 + 5) % np.uint64(64)).astype(np.int64)
    step = 2 * (mix(rows, seed * 16 + 6) % np.uint64(32)).astype(np.int64) + 1  # odd: distinct
    mask = np.zeros(len(rows), np.uint64)
    for j in range(int(bits.max())):
        bit = ((start + j * step) % 64).astype(np.uint64)
        mask |= np.where(j < k, np.uint64(1) << bit, np.uint64(0))
    return mask


def part_table(cfg: FingerprintsConfig, part: int) -> tuple[pa.Table, pa.Table]:
    lo = part * cfg.part_rows
    rows = np.arange(lo, min(lo + cfg.part_rows, cfg.rows), dtype=np.int64)
    n, role, seed = len(rows), roles(rows, cfg.seed), cfg.seed
    copy = np.isin(role, [ROLES.index(r) for r in ("exact_url", "exact_pixels", "near_image")])
    src = np.where(copy, sources(rows, seed, cfg.window), rows)
    copy &= src >= 0
    role = np.where(copy | ~np.isin(role, [1, 2, 3]), role, 0).astype(np.int8)
    src = np.where(copy, src, rows)
    near = role == ROLES.index("near_image")
    same_image = copy & ~near  # exact copies are their source's image
    base = np.where(same_image, src, rows)
    ph = codes(base, seed)
    view = np.where(near, (mix(rows, seed * 16 + 12) % np.uint64(len(VIEWS))).astype(np.int64), 0)
    ph[near, 0] = codes(src[near], seed)[np.arange(near.sum()), view[near]] ^ _flips(
        rows[near], seed
    )
    proto = (mix(np.where(near, src, base), seed * 16 + 13) % np.uint64(cfg.prototypes)).astype(
        np.int64
    )
    thumb_id = proto * len(VIEWS) + view  # the blob: prototype's views, view 0 swapped in
    side = 256 + (mix(base, seed * 16 + 14) % np.uint64(768)).astype(np.int64)
    side = np.where(near, 128 + side % 100, side)  # smaller than any source (>= 256)
    url = np.where(role == ROLES.index("exact_url"), src, rows)
    pixels = np.where(same_image, src, rows)
    keys = pa.array([f"{r:012d}" for r in rows])
    filtered = role == ROLES.index("filtered")
    dirty = role == ROLES.index("contaminated")
    table = pa.table(
        {
            "key": keys,
            "status": pa.array(np.full(n, SUCCESS, object), pa.string()),
            "url": pa.array([f"https://img.example/{u:012d}.jpg" for u in url]),
            "caption": pa.array([f"synthetic caption {r}" for r in rows]),
            "page_url": pa.array([f"https://page.example/{r // 10}" for r in rows]),
            "matched": pa.array([["synthetic"]] * n, pa.list_(pa.string())),
            "width": pa.array(side, pa.int32()),
            "height": pa.array(side, pa.int32()),
            "original_width": pa.array(side, pa.int32()),
            "original_height": pa.array(side, pa.int32()),
            "sha256": pa.array([f"{p:064x}" for p in pixels]),
            "crawl_shard": pa.array(np.full(n, part), pa.int32()),
            "lang": pa.array(["en"] * n),
            "lang_prob": pa.array(np.full(n, 0.99), pa.float32()),
            "lang_score": pa.array(np.full(n, 0.99), pa.float32()),
            "filter_reason": pa.array(np.where(filtered, "caption_too_short", None)),
            "pixels": pa.array([f"{p:016x}" for p in mix(pixels, seed * 16 + 15)]),
            "phash": pa.array(list(ph), pa.list_(pa.uint64())),
            "dhash": pa.array(mix(base, seed * 16 + 16), pa.uint64()),
            "thumbs": _thumbs(cfg).take(pa.array(thumb_id)),
            "image_ext": pa.array(["jpg"] * n),
            "image_offset": pa.array(np.zeros(n, np.int64)),
            "image_size": pa.array(np.zeros(n, np.int64)),
            "text_offset": pa.array(np.zeros(n, np.int64)),
            "text_size": pa.array(np.zeros(n, np.int64)),
            "model_score": pa.nulls(n, pa.float32()),
            "contaminated_by": pa.array(
                [[f"synthetic/eval/{r}"] if d else [] for r, d in zip(rows, dirty, strict=True)],
                pa.list_(pa.string()),
            ),
        }
    )
    truth = pa.table(
        {
            "key": keys,
            "role": pa.array([ROLES[r] for r in role]),
            "source": pa.array([f"{s:012d}" for s in src]),
        }
    )
    truth = truth.filter(pc.not_equal(truth.column("key"), truth.column("source")))
    return table, truth


_BLOBS: dict = {}


def _thumbs(cfg: FingerprintsConfig) -> pa.Array:
    """prototypes x views blobs: blob p*views+v is prototype p's views with view v first."""
    key = (cfg.seed, cfg.prototypes)
    if key not in _BLOBS:
        rng = np.random.default_rng(cfg.seed)
        t = rng.integers(0, 256, (cfg.prototypes, len(VIEWS), THUMB_BYTES), dtype=np.uint8)
        blobs = []
        for p in range(cfg.prototypes):
            for v in range(len(VIEWS)):
                views = t[p].copy()
                views[0] = t[p, v]
                blobs.append(views.tobytes())
        _BLOBS[key] = pa.array(blobs, pa.binary())
    return _BLOBS[key]


def write_part(cfg: FingerprintsConfig, out: Path, part: int) -> int:
    table, truth = part_table(cfg, part)
    with atomic_output(out / "_scan" / f"{part:05d}.parquet") as f:
        pq.write_table(
            table,
            f,
            use_dictionary=["thumbs"],
            dictionary_pagesize_limit=64 << 20,
            row_group_size=cfg.part_rows,
        )
    storage.write_parquet(truth, out / "_truth" / f"{part:05d}.parquet")
    return table.num_rows


def parts(cfg: FingerprintsConfig) -> int:
    return -(-cfg.rows // cfg.part_rows)


def audit(out: Path) -> dict:
    """The decision scored against the planted truth: precision and recall of exact and of
    near duplicates (a hit names the right kind and the planted source), contamination."""
    import duckdb

    from openwit.pipeline.shards.candidates import decisions_query

    con = duckdb.connect()
    con.execute(f"CREATE VIEW d AS {decisions_query(out)}")
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{(out / '_truth').as_posix()}/*')")
    result = {}
    for name, kinds in (("exact", ("exact_url", "exact_pixels")), ("near_dup", ("near_image",))):
        k = "(" + ", ".join(f"'{x}'" for x in kinds) + ")"
        hit, said, planted = con.execute(f"""SELECT
            (SELECT count(*) FROM d JOIN t USING (key)
             WHERE d.dup_kind IN {k} AND t.role = d.dup_kind AND t.source = d.dup_of),
            (SELECT count(*) FROM d WHERE dup_kind IN {k}),
            (SELECT count(*) FROM t WHERE role IN {k})""").fetchone()
        result[f"{name}_precision"] = hit / said if said else 1.0
        result[f"{name}_recall"] = hit / planted if planted else 1.0
        result[f"{name}_planted"] = planted
    result["contaminated_dropped"] = con.execute(
        "SELECT count(*) FROM d WHERE drop_reason = 'contaminated'"
    ).fetchone()[0]
    return result
