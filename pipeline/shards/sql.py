"""DuckDB over the shards job's tables, with ready views (`openwit sql`, `make sql`).

candidates       every harvested pair and its fate (candidates.parquet)
samples          the pairs in the final shards
drops_by_reason  what was lost, at which stage and why, with counts and shares
entries          the query list: entry_id, entry, source
entry_balance    per query entry: pairs matched (before balancing), selected (after),
                 and kept in the final shards
funnel           how many pairs got past each stage
contamination    CLIP's overlap report per evaluation set
decisions        every scanned row's decision, read from the job's partitioned tables
                 (_decisions/, _placement/): drop reason, dup_of, shard and position
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import pyarrow as pa

from openwit.core.vocab import Stage, Status


def _past(*stages: Stage) -> str:
    """A pair that no stage of `stages` dropped."""
    names = ", ".join(f"'{s}'" for s in stages)
    return f"(drop_stage IS NULL OR drop_stage NOT IN ({names}))"


VIEWS = {
    "samples": f"SELECT * FROM candidates WHERE status = '{Status.KEPT}'",
    "drops_by_reason": f"""
        SELECT drop_stage AS stage, drop_reason AS reason, count(*) AS pairs,
               round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct_of_drops
        FROM candidates WHERE status = '{Status.DROPPED}'
        GROUP BY ALL ORDER BY pairs DESC""",
    "entry_balance": f"""
        SELECT m.entry_id, e.entry, e.source, count(*) AS matched,
               count(*) FILTER (WHERE m.drop_stage IS DISTINCT FROM '{Stage.BALANCE}') AS selected,
               count(*) FILTER (WHERE m.status = '{Status.KEPT}') AS kept
        FROM (SELECT unnest(matched) AS entry_id, drop_stage, status FROM candidates) m
        LEFT JOIN entries e USING (entry_id)
        GROUP BY ALL ORDER BY matched DESC, m.entry_id""",
    # How many pairs got past each stage, in pipeline order (the report's first plot).
    "funnel": f"""
        SELECT count(*) AS candidates,
            count(*) FILTER (WHERE {_past(Stage.MATCH)}) AS matched,
            count(*) FILTER (WHERE {_past(Stage.MATCH, Stage.BALANCE)}) AS selected,
            count(*) FILTER (WHERE key IS NOT NULL
                AND {_past(Stage.DOWNLOAD, Stage.SHARDS)})
                AS downloaded,
            count(*) FILTER (WHERE drop_stage IS NULL
                OR drop_stage IN ('{Stage.DEDUP}', '{Stage.DECONTAMINATE}')) AS passed_filters,
            count(*) FILTER (WHERE drop_stage IS NULL OR drop_stage = '{Stage.DEDUP}')
                AS not_contaminated,
            count(*) FILTER (WHERE status = '{Status.KEPT}') AS final
        FROM candidates""",
}


def connect(shards: str | Path, queries: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with the views defined over `shards` (a finished shards job's folder)."""
    shards = str(shards).rstrip("/")
    con = duckdb.connect()
    if "://" in shards and not shards.startswith("file://"):
        # DuckDB reads through the same fsspec filesystem as every other stage: the same
        # credentials and endpoint (AWS_ENDPOINT_URL, ~/.aws), and no httpfs extension to
        # download, which an offline cluster cannot.
        import fsspec

        con.register_filesystem(fsspec.filesystem(shards.split("://", 1)[0]))
    con.sql(f"CREATE VIEW candidates AS SELECT * FROM read_parquet('{shards}/candidates.parquet')")
    con.sql(
        f"CREATE VIEW contamination AS SELECT * FROM read_parquet('{shards}/contamination.parquet')"
    )
    entries = pa.table(
        {
            "entry_id": pa.array([], pa.int32()),
            "entry": pa.array([], pa.string()),
            "source": pa.array([], pa.string()),
        }
    )
    if queries is not None:
        from openwit.queries.build import load

        ql = load(queries)
        entries = pa.table(
            {
                "entry_id": pa.array(range(len(ql)), pa.int32()),
                "entry": ql.entries,
                "source": ql.sources,
            }
        )
    with contextlib.suppress(duckdb.Error):  # no kept sample: no placement files to read
        con.sql(f"""CREATE VIEW decisions AS SELECT d.*, p.shard, p.position
            FROM read_parquet('{shards}/_decisions/*.parquet') d
            LEFT JOIN (SELECT key, shard, position
                       FROM read_parquet('{shards}/_placement/*.parquet')) p ON p.key = d.key""")
    con.register("entries_arrow", entries)
    con.sql("CREATE VIEW entries AS SELECT * FROM entries_arrow")
    for name, query in VIEWS.items():
        con.sql(f"CREATE VIEW {name} AS {query}")
    return con


def query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    cur = con.execute(sql)
    if cur.description is None:  # a statement without a result (CREATE VIEW …)
        return [], []
    return [d[0] for d in cur.description], cur.fetchall()
