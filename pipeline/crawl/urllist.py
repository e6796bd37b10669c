"""URL lists as the datasets publish them: LAION, DataComp, COYO, CC3M/CC12M, MetaCLIP.

A `--preset` names the columns (img2dataset's `url_col`, `caption_col` and
`save_additional_columns`) and, for the header-less TSVs of Conceptual Captions, their order;
`--url-col/--caption-col/--keep-columns` set or override them. Kept columns ride along to the
output Parquet (as `extra`, JSON per row). A `sha256` column (DataComp's) is checked against
the downloaded bytes: a mismatch is its own status, `sha256_mismatch`. Formats: Parquet,
CSV, TSV, JSONL/JSON and TXT (one URL a line), each optionally gzip-compressed.
"""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from openwit.core import storage
from openwit.pipeline.crawl.caption import clean_caption
from openwit.pipeline.crawl.harvest import SCHEMA, pair_id
from openwit.pipeline.crawl.urls import normalize_url

LIST_SUFFIXES = tuple(
    s + z for s in (".parquet", ".csv", ".tsv", ".jsonl", ".json", ".txt") for z in ("", ".gz")
)


@dataclass(frozen=True)
class ListPreset:
    url_col: str
    caption_col: str | None
    keep: tuple[str, ...] = ()
    header: tuple[str, ...] | None = None  # column names of a header-less TSV


PRESETS = {
    "default": ListPreset("url", "caption"),
    "img2dataset": ListPreset("url", "caption"),
    "laion": ListPreset(
        "URL", "TEXT", ("WIDTH", "HEIGHT", "similarity", "LICENSE", "NSFW", "punsafe", "pwatermark")
    ),
    "datacomp": ListPreset(
        "url",
        "text",
        ("uid", "sha256", "original_width", "original_height", "clip_l14_similarity_score"),
    ),
    "coyo": ListPreset(
        "url", "text", ("id", "width", "height", "clip_similarity_vitl14", "watermark_score")
    ),
    "cc3m": ListPreset("url", "caption", header=("caption", "url")),
    "cc12m": ListPreset("url", "caption", header=("url", "caption")),
    "metaclip": ListPreset("url", "text"),
}
EXPECTED_SHA256 = "sha256"


def _read(path: str, preset: ListPreset) -> pa.Table:
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    with storage.open_input(path) as f:
        data = f.read()
    name = path.lower()
    if name.endswith(".gz"):
        data, name = gzip.decompress(data), name[:-3]
    if name.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data))
    if name.endswith(".txt"):
        urls = [u.strip() for u in data.decode("utf-8", "replace").splitlines() if u.strip()]
        return pa.table({preset.url_col: urls})
    if name.endswith((".csv", ".tsv")):
        tsv = name.endswith(".tsv")
        names = list(preset.header) if preset.header and tsv else None
        return pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=names),
            parse_options=pcsv.ParseOptions(
                delimiter="\t" if tsv else ",", quote_char=False if tsv else '"'
            ),
            convert_options=pcsv.ConvertOptions(strings_can_be_null=False),
        )
    if name.endswith((".jsonl", ".json")):
        return pjson.read_json(io.BytesIO(data))
    raise ValueError(f"{path}: unknown list format; use one of {', '.join(LIST_SUFFIXES)}")


def harvest_url_list(
    path: str,
    url_col: str | None = None,
    caption_col: str | None = None,
    preset: str = "default",
    keep_columns: tuple[str, ...] | None = None,
    max_caption_chars: int = 20_000,
) -> tuple[pa.Table, Counter]:
    """Pairs from one URL list; `url_col`/`caption_col`/`keep_columns` override the preset."""
    if preset not in PRESETS:
        raise ValueError(f"list preset {preset!r}: use one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    url_col, caption_col = url_col or p.url_col, caption_col or p.caption_col
    table = _read(path, p)
    cols = table.column_names
    lower = {c.lower(): c for c in cols}
    url_col = url_col if url_col in cols else lower.get(url_col.lower(), url_col)
    if url_col not in cols:
        raise ValueError(
            f"{path}: no URL column {url_col!r} (has {cols}); name it with --url-col "
            f"or pick a --list-preset ({', '.join(PRESETS)})"
        )
    if caption_col and caption_col not in cols:
        caption_col = lower.get(caption_col.lower())
    keep = [c for c in (keep_columns if keep_columns is not None else p.keep) if c in cols]
    if EXPECTED_SHA256 in cols and EXPECTED_SHA256 not in keep:
        keep.append(EXPECTED_SHA256)  # always checked when the list gives it
    stats: Counter = Counter()
    urls = table.column(url_col).to_pylist()
    caps = table.column(caption_col).to_pylist() if caption_col else [None] * len(urls)
    extras = table.select(keep).to_pylist() if keep else [None] * len(urls)
    rows = []
    for raw, cap, extra in zip(urls, caps, extras, strict=True):
        stats["images_seen"] += 1
        url, why = normalize_url(raw if isinstance(raw, str) else None, None)
        if url is None:
            stats[f"dropped_{why}"] += 1
            continue
        caption = clean_caption(cap if isinstance(cap, str) else None, max_caption_chars)
        rows.append(
            {
                "pair_id": pair_id(url, caption, None),
                "url": url,
                "caption": caption,
                "alt": cap if isinstance(cap, str) else None,
                "title": None,
                "figcaption": None,
                "page_url": None,
                "page_lang": None,
                "source": path,
                "optout": None,
                "extra": json.dumps(extra, default=str, ensure_ascii=False) if extra else None,
            }
        )
    stats["pairs"] = len(rows)
    return pa.Table.from_pylist(rows, schema=SCHEMA), stats
