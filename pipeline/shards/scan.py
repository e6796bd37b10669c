"""Scan one crawl shard: score each caption's language, run the filters, fingerprint each image.

The output keeps every row of the crawl shard (failures too) and adds where each sample's
image and caption sit inside the crawl's tar, so the final shards copy bytes without decoding
anything again. A shard whose tar cannot be read is not fatal: its rows are kept with the
reason `unreadable_shard`, and the error is returned for the summary.
"""

from __future__ import annotations

import tarfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from openwit.core.storage import open_input, read_table
from openwit.core.vocab import SUCCESS, Pool, Reason
from openwit.pipeline.shards import filters as F
from openwit.pipeline.shards.decontaminate import EvalSet, contaminated_by
from openwit.pipeline.shards.dedup.images import DedupConfig, Fingerprint, fingerprint
from openwit.pipeline.shards.model_score import ModelScoreConfig, ModelScorer, embedding_column

SCAN_COLUMNS = pa.schema(
    [
        ("crawl_shard", pa.int32()),
        ("lang", pa.string()),
        ("lang_prob", pa.float32()),
        ("lang_score", pa.float32()),
        ("filter_reason", pa.string()),
        ("pixels", pa.string()),
        ("phash", pa.list_(pa.uint64())),
        ("dhash", pa.uint64()),
        ("thumbs", pa.binary()),
        ("image_ext", pa.string()),
        ("image_offset", pa.int64()),
        ("image_size", pa.int64()),
        ("text_offset", pa.int64()),
        ("text_size", pa.int64()),
        ("model_score", pa.float32()),
        ("contaminated_by", pa.list_(pa.string())),  # evaluation images this one copies
    ]
)
EMBEDDINGS = "embeddings"  # _scan/embeddings/<part>.parquet: (row, embedding) of scored rows


@dataclass
class ScanConfig:
    caption: F.CaptionFilter = field(default_factory=F.CaptionFilter)
    image: F.ImageFilter = field(default_factory=F.ImageFilter)
    language: F.LanguageFilter = field(default_factory=F.LanguageFilter)
    model_score: ModelScoreConfig = field(default_factory=ModelScoreConfig)
    # Switches for ablations (`openwit ablate`): a step that is off leaves its rows alone.
    filters: bool = True  # False: only unusable images drop (decode errors, missing members)
    fingerprints: bool = True  # False: no image hashes, so no dedup and no decontamination
    balance_t: int | None = None  # MetaCLIP's cap per entry, applied here over the crawl's pool


def _members(tar_path: str) -> dict[str, dict[str, tuple[int, int]]]:
    """key -> extension -> (data offset, size) of each member of a WebDataset tar."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    with open_input(tar_path) as f, tarfile.open(fileobj=f, mode="r:") as tar:
        for m in tar:
            if m.isfile() and "." in m.name:
                key, ext = m.name.split(".", 1)
                out.setdefault(key, {})[ext] = (m.offset_data, m.size)
    return out


def read_member(f, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise OSError(f"short read at {offset}: {len(data)} of {size} bytes")
    return data


def scan_shard(
    parquet_path: str,
    tar_path: str,
    shard_id: int,
    cfg: ScanConfig,
    evals: EvalSet | None = None,
    dedup: DedupConfig | None = None,
    balance_p: np.ndarray | None = None,
) -> tuple[pa.Table, str | None, pa.Table | None]:
    """(the shard's rows with SCAN_COLUMNS added, an error message or None, the scored rows'
    image embeddings or None). With `evals`, each row names the evaluation images it copies
    (the same test as near-dup dedup)."""
    table = read_table(parquet_path)
    n = table.num_rows
    cols: dict[str, list] = {f.name: [None] * n for f in SCAN_COLUMNS}
    cols["crawl_shard"] = [shard_id] * n
    for i, (top, prob, target) in enumerate(
        cfg.language.scores(table.column("caption").to_pylist())
    ):
        cols["lang"][i], cols["lang_prob"][i], cols["lang_score"][i] = top, prob, target
    ok = pc.equal(table.column("status"), SUCCESS).to_pylist()
    error = None
    try:
        members = _members(tar_path)
    except (OSError, tarfile.TarError) as e:
        members, error = {}, f"{tar_path}: {e}"
    keyed = table.append_column("lang_score", pa.array(cols["lang_score"], pa.float32()))
    steps = [cfg.caption, cfg.image, cfg.language] if cfg.filters else []
    if balance_p is not None:  # balancing first: it decides which pairs are in the pool
        steps.insert(0, Balanced(balance_p, cfg.balance_t))
    reasons = F.first_reasons(keyed, steps, ok)
    keys = table.column("key").to_pylist()
    to_score: list[tuple[int, bytes]] = []
    with open_input(tar_path) if members else nullcontext() as f:
        for i in range(n):
            if not ok[i]:
                continue
            if error is not None:
                reasons[i] = Reason.UNREADABLE_SHARD
                continue
            parts = members.get(keys[i], {})
            image_ext = next((e for e in parts if e not in ("txt", "json")), None)
            if image_ext is None or "txt" not in parts:
                reasons[i] = Reason.MISSING_FROM_TAR
                continue
            try:
                image = read_member(f, *parts[image_ext])
                fp = fingerprint(image)
            except Exception:  # noqa: BLE001 - any undecodable image is one row's problem
                reasons[i] = Reason.DECODE_ERROR
                continue
            if cfg.fingerprints:
                cols["pixels"][i], cols["dhash"][i] = fp.pixels, fp.dhash
                cols["thumbs"][i], cols["phash"][i] = fp.thumbs, [int(x) for x in fp.phash]
            cols["image_ext"][i] = image_ext
            cols["image_offset"][i], cols["image_size"][i] = parts[image_ext]
            cols["text_offset"][i], cols["text_size"][i] = parts["txt"]
            if cfg.model_score.checkpoint and reasons[i] is None:
                to_score.append((i, image))
    embeddings = None
    if to_score:
        captions = table.column("caption").to_pylist()
        embeddings = _score(to_score, captions, cols, reasons, cfg.model_score)
    if evals is not None and cfg.fingerprints:
        prints = [
            Fingerprint(p, np.array(h, np.uint64), d, t) if p is not None else None
            for p, h, d, t in zip(
                cols["pixels"], cols["phash"], cols["dhash"], cols["thumbs"], strict=True
            )
        ]
        cols["contaminated_by"] = contaminated_by(prints, evals, dedup)
    cols["filter_reason"] = reasons
    for fld in SCAN_COLUMNS:
        table = table.append_column(fld, pa.array(cols[fld.name], fld.type))
    return table, error, embeddings


class Balanced:
    """MetaCLIP's balancing as a filter (crawl/balance.py's rule and hashes): a pair the
    crawl's balancing would not have selected goes with `balanced_out`."""

    def __init__(self, p: np.ndarray, t: int | None) -> None:
        self.p, self.t = p, t

    def reasons(self, table: pa.Table) -> list[str | None]:
        from openwit.pipeline.crawl.balance import keep_mask

        keep = keep_mask(table, self.p, 0)
        return [None if k else Pool.BALANCED_OUT.value for k in keep]


def _score(
    rows: list[tuple[int, bytes]],
    captions: list[str],
    cols: dict,
    reasons: list,
    cfg: ModelScoreConfig,
) -> pa.Table:
    """Fill in each row's model score; returns the rows' image embeddings (EMBEDDINGS)."""
    scores, emb = ModelScorer.cached(cfg.checkpoint).scores_and_embeddings(
        [b for _, b in rows], [captions[i] for i, _ in rows], cfg.batch_size
    )
    for (i, _), score in zip(rows, scores, strict=True):
        cols["model_score"][i] = float(score)
        if cfg.min_score is not None and score < cfg.min_score:
            reasons[i] = Reason.MODEL_SCORE
    scored = pa.array([i for i, _ in rows], pa.int32())
    table = pa.table({"row": scored, "embedding": embedding_column(emb)})
    return table.replace_schema_metadata({"checkpoint": checkpoint_id(cfg.checkpoint)})


def checkpoint_id(path: str) -> str:
    """Which model embedded: the checkpoint's resolved path, size and modification time."""
    st = Path(path).stat()
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"
