"""From duplicate pairs to each duplicate's survivor, in DuckDB: no row list in Python.

Connected groups come from min-label propagation with pointer jumping: every row starts as
its own label, takes the smallest label among its neighbours, then its label's label, until
nothing changes (a few rounds: the rounds grow with the log of a group's diameter). DuckDB
keeps the tables on disk past its memory limit, so the pair list may outgrow the task.

The order is the one-process `images.dedup`'s: exact groups (URL or pixels) first
(`link_exact`, before the near-duplicate search, so that a flood of one picture enters that
search once, not as n² pairs); near pairs among the exact survivors next (`link`); a group's
survivor is a row the filters keep, then the largest image, then the lowest key; an exact
copy of a row that went as a near duplicate names the near group's survivor, as a near
duplicate itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb


def _files(paths: list[Path]) -> str:
    return "[" + ", ".join(f"'{p.as_posix()}'" for p in paths) + "]"


def components(con: duckdb.DuckDBPyConnection, edges: str, name: str) -> None:
    """Table `name`(v, c): each vertex of `edges`(a, b) and the lowest vertex of its group."""
    con.execute(f"""CREATE OR REPLACE TABLE {name} AS
        SELECT v, min(u) AS c FROM (
            SELECT a AS v, b AS u FROM {edges} UNION ALL SELECT b, a FROM {edges}
            UNION ALL SELECT a, a FROM {edges} UNION ALL SELECT b, b FROM {edges})
        GROUP BY v""")
    while True:
        con.execute(f"""CREATE OR REPLACE TABLE {name}_next AS
            WITH prop AS (
                SELECT e.a AS v, l.c FROM {edges} e JOIN {name} l ON l.v = e.b
                UNION ALL SELECT e.b, l.c FROM {edges} e JOIN {name} l ON l.v = e.a
                UNION ALL SELECT v, c FROM {name}),
            m AS (SELECT v, min(c) AS c FROM prop GROUP BY v)
            SELECT m.v, least(m.c, j.c) AS c FROM m JOIN m j ON j.v = m.c""")
        changed = con.execute(f"""SELECT count(*) FROM {name}_next n JOIN {name} o USING (v)
            WHERE n.c <> o.c""").fetchone()[0]
        con.execute(f"DROP TABLE {name}; ALTER TABLE {name}_next RENAME TO {name}")
        if not changed:
            return


def _survivors(con: duckdb.DuckDBPyConnection, groups: str, name: str) -> None:
    """Table `name`(v, best) for every member of a group that is not its survivor."""
    con.execute(f"""CREATE OR REPLACE TABLE {name} AS
        WITH best AS (
            SELECT g.c, first(g.v ORDER BY r.flag, r.area DESC, r.key) AS best
            FROM {groups} g JOIN rank r ON r.id = g.v GROUP BY g.c)
        SELECT g.v, best.best FROM {groups} g JOIN best USING (c) WHERE g.v <> best.best""")


def _connect(out: Path, memory_limit: str | None, rank: list[Path]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{(out.parent / '.duckdb_spill').as_posix()}'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"CREATE VIEW rank AS SELECT * FROM read_parquet({_files(rank)})")
    return con


def _write(con: duckdb.DuckDBPyConnection, query: str, out: Path) -> int:
    # DuckDB writes the file itself: to a temporary name, renamed when whole.
    tmp = out.with_name(f".{out.name}.duckdb.tmp")
    con.execute(f"COPY ({query}) TO '{tmp.as_posix()}' (FORMAT parquet, ROW_GROUP_SIZE 65536)")
    n = con.execute(f"SELECT count(*) FROM read_parquet('{tmp.as_posix()}')").fetchone()[0]
    tmp.replace(out)
    con.close()
    shutil.rmtree(out.parent / ".duckdb_spill", ignore_errors=True)
    return n


def link_exact(rank: list[Path], exact: list[Path], out: Path, memory_limit=None) -> int:
    """Write `out` (v, best): every row an exact group (URL or pixels) drops, and the row
    that group keeps. Run before the near-duplicate search, which then sees survivors only."""
    con = _connect(out, memory_limit, rank)
    con.execute(f"CREATE TABLE exact_edges AS SELECT a, b FROM read_parquet({_files(exact)})")
    components(con, "exact_edges", "exact_groups")
    _survivors(con, "exact_groups", "exact_of")
    return _write(con, "SELECT v, best FROM exact_of ORDER BY v", out)


def link(
    rank: list[Path],
    exact_of: Path,
    near: list[Path],
    out: Path,
    memory_limit: str | None = None,
) -> int:
    """Write `out` (id, dup_kind, dup_of key) for every duplicate image, sorted by id;
    returns how many rows it holds. `exact_of` is link_exact's table; `near` the pairs
    found among the exact survivors."""
    con = _connect(out, memory_limit, rank)
    con.execute(f"CREATE TABLE exact_of AS SELECT v, best FROM read_parquet('{exact_of}')")
    con.execute(f"""CREATE TABLE near_edges AS SELECT n.a, n.b FROM read_parquet({_files(near)}) n
        ANTI JOIN exact_of x ON x.v = n.a ANTI JOIN exact_of y ON y.v = n.b""")
    components(con, "near_edges", "near_groups")
    _survivors(con, "near_groups", "near_of")
    query = """
        SELECT n.v AS id, 'near_image' AS dup_kind, r.key AS dup_of
        FROM near_of n JOIN rank r ON r.id = n.best
        UNION ALL
        SELECT x.v,
            CASE WHEN nb.v IS NOT NULL THEN 'near_image'
                 WHEN ru.url IS NOT DISTINCT FROM rb.url THEN 'exact_url'
                 ELSE 'exact_pixels' END,
            CASE WHEN nb.v IS NOT NULL THEN rn.key ELSE rb.key END
        FROM exact_of x
        JOIN rank ru ON ru.id = x.v JOIN rank rb ON rb.id = x.best
        LEFT JOIN near_of nb ON nb.v = x.best LEFT JOIN rank rn ON rn.id = nb.best
        ORDER BY id"""
    return _write(con, query, out)


def link_captions(
    rank: list[Path],
    image_dups: Path,
    pairs: list[Path],
    out: Path,
    memory_limit: str | None = None,
) -> int:
    """`image_dups` plus a near_caption row for every caption copy among the rows it left
    (the pairs are between those rows only)."""
    con = _connect(out, memory_limit, rank)
    con.execute(f"CREATE TABLE caption_edges AS SELECT a, b FROM read_parquet({_files(pairs)})")
    components(con, "caption_edges", "caption_groups")
    _survivors(con, "caption_groups", "caption_of")
    query = f"""
        SELECT id, dup_kind, dup_of FROM read_parquet('{image_dups.as_posix()}')
        UNION ALL
        SELECT c.v, 'near_caption', r.key FROM caption_of c JOIN rank r ON r.id = c.best
        ORDER BY id"""
    return _write(con, query, out)
