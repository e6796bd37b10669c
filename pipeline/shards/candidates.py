"""One table over every candidate pair of the crawl, with its fate: `candidates.parquet`.

A row per harvested pair: where it came from (page, source attribute), the query entries it
matched, and how far it got. `status` is kept or dropped; a dropped row says at which
stage (`openwit.core.vocab.Stage`) and why, and a
duplicate names the sample it duplicates (`dup_of`). Built by DuckDB from the crawl's pool
and shard tables and the shards job's scan and decisions, so nothing is held in Python.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from openwit.core.vocab import SUCCESS, Pool, Reason, Stage, Status


def _files(paths: list[Path]) -> str:
    return "[" + ", ".join(f"'{p.as_posix()}'" for p in paths) + "]"


def decisions_query(out: str | Path) -> str:
    """SQL over the decision's tables: each scanned row's fate, with the final shard and
    position of each kept one."""
    out = Path(out)
    decisions = sorted((out / "_decisions").glob("*.parquet"))
    placement = sorted((out / "_placement").glob("*.parquet"))
    placed = (
        f"SELECT key, shard, position FROM read_parquet({_files(placement)})"
        if placement
        else "SELECT NULL::VARCHAR AS key, NULL::INTEGER AS shard, NULL::INTEGER AS position"
    )
    return f"""SELECT d.*, p.shard, p.position FROM read_parquet({_files(decisions)}) d
        LEFT JOIN ({placed}) p ON p.key = d.key"""


def read_decisions(out: str | Path) -> pa.Table:
    """Every scanned row's decision, by key (for tests, audits and small crawls)."""
    return duckdb.sql(f"SELECT * FROM ({decisions_query(out)}) ORDER BY key").to_arrow_table()


def build(crawl: str | Path, out: str | Path) -> dict[str, int]:
    """Write `out/candidates.parquet` (DuckDB streams it to disk); returns the number of
    candidates per outcome ("kept", or "stage: reason")."""
    crawl, out = Path(crawl), Path(out)
    pool = sorted((crawl / "_pool").glob("*.parquet"))
    scans = sorted((out / "_scan").glob("*.parquet"))
    # Only the crawl shards the scan could read: an unreadable one was reported and skipped.
    downloads = [crawl / p.name for p in scans]
    con = duckdb.connect()
    query = f"""
    WITH pool AS (SELECT * FROM read_parquet({_files(pool)})),
    dl AS (SELECT * FROM read_parquet({_files(downloads)})),
    scan AS (SELECT * EXCLUDE (thumbs) FROM read_parquet({_files(scans)})),
    decided AS ({decisions_query(out)})
    SELECT
        pool.pair_id, dl.key, pool.url, pool.caption, pool.alt, pool.title, pool.figcaption,
        pool.page_url, pool.page_lang, pool.source, pool.matched,
        CASE WHEN pool.status = '{Pool.SELECTED}' AND dl.status = '{SUCCESS}'
                  AND scan.key IS NOT NULL AND decided.drop_reason IS NULL
             THEN '{Status.KEPT}' ELSE '{Status.DROPPED}' END AS status,
        CASE WHEN pool.status = '{Pool.NO_MATCH}' THEN '{Stage.MATCH}'
             WHEN pool.status = '{Pool.BALANCED_OUT}' THEN '{Stage.BALANCE}'
             WHEN pool.status = '{Pool.OPTED_OUT}' THEN '{Stage.DOWNLOAD}'
             WHEN dl.key IS NULL OR scan.key IS NULL THEN '{Stage.SHARDS}'
             WHEN dl.status <> '{SUCCESS}' THEN '{Stage.DOWNLOAD}'
             ELSE decided.drop_stage END AS drop_stage,
        CASE WHEN pool.status IN ('{Pool.NO_MATCH}', '{Pool.BALANCED_OUT}') THEN pool.status
             WHEN pool.status = '{Pool.OPTED_OUT}' THEN pool.optout
             WHEN dl.key IS NULL OR scan.key IS NULL THEN '{Reason.CRAWL_SHARD_UNREADABLE}'
             WHEN dl.status <> '{SUCCESS}' THEN dl.status
             ELSE decided.drop_reason END AS drop_reason,
        decided.dup_kind, decided.dup_of, decided.contaminated_by,
        scan.lang, scan.lang_prob, scan.lang_score, scan.model_score,
        dl.http_status, dl.error_message, dl.bytes,
        dl.width, dl.height, dl.original_width, dl.original_height, dl.sha256,
        scan.pixels, scan.phash[1] AS phash, scan.dhash,
        scan.crawl_shard, decided.shard, decided.position
    FROM pool
    LEFT JOIN dl USING (pair_id)
    LEFT JOIN scan ON scan.key = dl.key
    LEFT JOIN decided ON decided.key = dl.key
    ORDER BY pool.pair_id
    """
    path = out / "candidates.parquet"
    tmp = path.with_name(f".{path.name}.duckdb.tmp")  # renamed when whole
    con.execute(f"COPY ({query}) TO '{tmp.as_posix()}' (FORMAT parquet)")
    tmp.replace(path)
    rows = con.execute(f"""SELECT drop_stage, drop_reason, count(*)
        FROM read_parquet('{path.as_posix()}') GROUP BY ALL""").fetchall()
    return {f"{s}: {r}" if s else str(Status.KEPT): n for s, r, n in rows}
