"""Every candidate's fate, faceted: DuckDB over a shards job's `candidates.parquet`.

The explorer's questions are SQL over four relations, built once when it starts:

    samples   one row per candidate (candidates.parquet, plus `outcome` and `host`)
    scan      where each downloaded image lies in the crawl's tars (the scan's offsets)
    entries   the query list the crawl matched against (id = row number)
    entry_stats  per entry: pairs matched, selected by balancing, kept in the shards

Nothing a request sends becomes SQL text: facet names, sort columns and orders are looked up
in the fixed tables below, and every value is a bound parameter.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from openwit.core import storage
from openwit.core.vocab import Stage, Status

# facet name: (SQL over `samples` giving one value per row, or None for a list column)
FACETS = {
    "outcome": "outcome",
    "entry": None,  # matched query entries (a list)
    "lang": "lang",
    "host": "host",
    "contaminated_by": None,  # evaluation images it copies (a list)
    "shard": "CAST(shard AS VARCHAR)",
}
_FILTERS = {
    "outcome": "outcome = ?",
    "entry": "list_contains(matched, (SELECT id FROM entries WHERE entry = ?))",
    "lang": "lang = ?",
    "host": "host = ?",
    "contaminated_by": "list_contains(contaminated_by, ?)",
    "shard": "CAST(shard AS VARCHAR) = ?",
    "text": "caption ILIKE '%' || ? || '%'",
}
ENTRY_SORTS = {"entry": "entry", "matched": "matched", "selected": "selected", "kept": "kept"}
STAGES = [s.value for s in Stage]  # the order a pair meets them
_SAMPLE_COLUMNS = """pair_id, key, url, caption, page_url, outcome, status, drop_stage,
    drop_reason, dup_kind, dup_of, width, height, shard, position"""


class BadRequest(ValueError):
    """A request naming a facet, filter or sort the catalog does not have."""


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


@dataclass
class Sources:
    """Where an OpenWIT output's parts are: the shards folder and what its job read."""

    shards: str
    crawl: str | None
    queries: str | None
    t: int | None  # the crawl's balancing cap

    @classmethod
    def find(cls, shards: str, crawl: str | None = None, queries: str | None = None) -> Sources:
        cfg = json.loads(_read_text(f"{shards}/_config.json")).get("config", {})
        crawl = crawl or _existing(cfg.get("crawl"), shards)
        t = None
        if crawl and storage.exists(f"{crawl}/_config.json"):
            ccfg = json.loads(_read_text(f"{crawl}/_config.json"))
            t = ccfg.get("config", {}).get("balance", {}).get("t")
            queries = queries or _existing(ccfg.get("config", {}).get("queries"), shards)
            if queries and not storage.is_remote(queries) and "queries_hash" in ccfg:
                pinned = Path(queries) / f"queries-{ccfg['queries_hash']}"
                queries = str(pinned) if pinned.is_dir() else queries
        return cls(shards, crawl, queries or _existing(cfg.get("queries"), shards), t)


def _has_scan(shards: str) -> bool:
    if storage.is_remote(shards):
        import fsspec

        fs, root = fsspec.core.url_to_fs(shards)
        return bool(fs.glob(f"{root}/_scan/*.parquet"))
    return any(Path(shards, "_scan").glob("*.parquet"))


def _read_text(path: str) -> str:
    with storage.open_input(path) as f:
        return f.read().decode()


def _existing(path: str | None, shards: str) -> str | None:
    """A path a job recorded, as given or beside the shards folder (a copied tree)."""
    if not path:
        return None
    if storage.is_remote(path) or Path(path).exists():
        return path
    beside = Path(shards).parent / Path(path).name
    return str(beside) if beside.exists() else None


class Catalog:
    def __init__(self, src: Sources, entry_stats: bool = True):
        self.src = src
        self.con = duckdb.connect()
        if storage.is_remote(src.shards):  # through fsspec, as `openwit sql` reads it
            import fsspec

            self.con.register_filesystem(fsspec.filesystem(src.shards.split("://", 1)[0]))
        cands = _quote(f"{src.shards}/candidates.parquet")
        self.con.execute(f"""CREATE VIEW samples AS SELECT *,
            CASE WHEN status = '{Status.KEPT}' THEN '{Status.KEPT}'
                 ELSE drop_stage || ': ' || drop_reason END AS outcome,
            lower(regexp_extract(url, '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:]+)', 1)) AS host
            FROM read_parquet({cands})""")
        if _has_scan(src.shards):
            scans = _quote(f"{src.shards}/_scan/*.parquet")
            self.con.execute(f"""CREATE VIEW scan AS SELECT key, crawl_shard, image_offset,
                image_size, file_row_number AS scan_row
                FROM read_parquet({scans}, file_row_number = true)""")
        else:  # an uploaded output keeps no scan: kept images come from its own tars
            self.con.execute("""CREATE VIEW scan AS SELECT NULL::VARCHAR AS key,
                NULL::INTEGER AS crawl_shard, NULL::BIGINT AS image_offset,
                NULL::BIGINT AS image_size, NULL::BIGINT AS scan_row WHERE FALSE""")
        self._entries(src.queries)
        # An unnest over every candidate: instant at the sandbox's size, minutes at 400M, so it
        # is built beside the server, and only the requests that read it wait for it.
        self._stats_ready = threading.Event()
        self._stats_error: Exception | None = None
        if entry_stats:
            threading.Thread(target=self._entry_stats, daemon=True, name="entry-stats").start()
        else:  # a catalog that only lists samples (the index) needs no counts
            self._stats_error = ValueError("not built (Catalog(entry_stats=False))")
            self._stats_ready.set()

    def _entry_stats(self) -> None:
        try:
            self.con.cursor().execute(f"""CREATE TABLE entry_stats AS
                SELECT id, e.entry, matched, selected, kept
                FROM (SELECT id, count(*) AS matched,
                        count(*) FILTER (WHERE coalesce(drop_stage, '') NOT IN
                            ('{Stage.MATCH}', '{Stage.BALANCE}')) AS selected,
                        count(*) FILTER (WHERE status = '{Status.KEPT}') AS kept
                      FROM (SELECT unnest(matched) AS id, drop_stage, status FROM samples)
                      GROUP BY id) s
                LEFT JOIN entries e USING (id)""")
        except Exception as e:  # noqa: BLE001 - reported by the requests that need the table
            self._stats_error = e
        finally:
            self._stats_ready.set()

    def _stats(self) -> None:
        """Wait for entry_stats (see __init__)."""
        self._stats_ready.wait()
        if self._stats_error is not None:
            error = self._stats_error
            raise RuntimeError(f"{self.src.shards}: counting pairs per entry failed: {error}")

    def _entries(self, queries: str | None) -> None:
        self.con.execute("CREATE TABLE entries (id INTEGER, entry VARCHAR)")
        if queries:
            from openwit.queries.build import load

            names = load(queries).entries
            table = pa.table({"id": pa.array(range(len(names)), pa.int32()), "entry": names})
            self.con.register("_names", table)
            self.con.execute("INSERT INTO entries SELECT * FROM _names")
            self.con.unregister("_names")
        else:  # no query list at hand: entries go by their ids
            self.con.execute("""INSERT INTO entries SELECT DISTINCT id, '#' || id
                FROM (SELECT unnest(matched) AS id FROM samples)""")

    def _q(self, sql: str, params: list | None = None) -> list[dict]:
        cur = self.con.cursor()  # one per call: DuckDB cursors may run on any thread
        try:
            rel = cur.execute(sql, params or [])
            cols = [d[0] for d in rel.description]
            return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
        finally:
            cur.close()

    @staticmethod
    def where(filters: dict[str, str]) -> tuple[str, list]:
        parts, params = ["TRUE"], []
        for name, value in filters.items():
            if value is None or value == "":
                continue
            if name not in _FILTERS:
                raise BadRequest(f"unknown filter {name!r}; use one of {sorted(_FILTERS)}")
            parts.append(_FILTERS[name])
            params.append(value)
        return " AND ".join(parts), params

    def counts(self) -> dict:
        return self._q(f"""SELECT count(*) AS candidates,
            count(*) FILTER (WHERE status = '{Status.KEPT}') AS kept FROM samples""")[0]

    def facets(self, filters: dict[str, str], limit: int = 30) -> dict[str, list[dict]]:
        """Counts per value of each facet under every filter but the facet's own, so that
        the other values stay in view to switch to."""
        self.where(filters)  # refuse an unknown filter before any query runs
        out = {}
        for name, expr in FACETS.items():
            where, params = self.where({k: v for k, v in filters.items() if k != name})
            if name == "entry":
                sql = f"""SELECT e.entry AS value, count(*) AS count
                    FROM (SELECT unnest(matched) AS id FROM samples WHERE {where}) u
                    JOIN entries e USING (id) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"""
            elif name == "contaminated_by":
                sql = f"""SELECT v AS value, count(*) AS count FROM (SELECT
                    unnest(contaminated_by) AS v FROM samples WHERE {where})
                    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"""
            else:
                sql = f"""SELECT {expr} AS value, count(*) AS count FROM samples
                    WHERE {where} AND {expr} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"""
            out[name] = self._q(sql, [*params, limit])
        return out

    def samples(self, filters: dict[str, str], offset: int = 0, limit: int = 60) -> dict:
        where, params = self.where(filters)
        total = self._q(f"SELECT count(*) AS n FROM samples WHERE {where}", params)[0]["n"]
        rows = self._q(
            f"""SELECT {_SAMPLE_COLUMNS} FROM samples WHERE {where}
                ORDER BY pair_id LIMIT ? OFFSET ?""",
            [*params, max(0, min(limit, 500)), max(0, offset)],
        )
        return {"total": total, "rows": rows}

    def by_pair_ids(self, pair_ids: list[str]) -> dict[str, dict]:
        rows = self._q(
            f"SELECT {_SAMPLE_COLUMNS} FROM samples WHERE list_contains(?, pair_id)", [pair_ids]
        )
        return {r["pair_id"]: r for r in rows}

    def sample(self, pair_id: str) -> dict | None:
        rows = self._q("SELECT * EXCLUDE (phash, dhash) FROM samples WHERE pair_id = ?", [pair_id])
        if not rows:
            return None
        row = rows[0]
        self._stats()
        entries = self._q(
            """SELECT s.entry, s.matched, s.selected, s.kept FROM entry_stats s
               WHERE list_contains(?, s.id) ORDER BY s.matched DESC""",
            [row["matched"] or []],
        )
        t = self.src.t
        for e in entries:
            e["keep_probability"] = min(1.0, t / e["matched"]) if t else None
        row["entries"] = entries
        # MetaCLIP keeps a pair with the highest of its entries' probabilities.
        probs = [e["keep_probability"] for e in entries if e["keep_probability"] is not None]
        row["balance_probability"] = max(probs) if probs else None
        row["stages"] = _stages(row)
        row["survivor"] = None
        if row["dup_of"]:
            got = self._q(f"SELECT {_SAMPLE_COLUMNS} FROM samples WHERE key = ?", [row["dup_of"]])
            row["survivor"] = got[0] if got else None
        row["copies"] = (
            self._q(
                f"SELECT {_SAMPLE_COLUMNS} FROM samples WHERE dup_of = ? ORDER BY pair_id LIMIT 50",
                [row["key"]],
            )
            if row["key"]
            else []
        )
        return row

    def image_location(self, pair_id: str) -> dict | None:
        rows = self._q(
            """SELECT s.crawl_shard, s.image_offset, s.image_size, c.shard, c.key
               FROM samples c LEFT JOIN scan s ON s.key = c.key WHERE c.pair_id = ?""",
            [pair_id],
        )
        return rows[0] if rows else None

    def entry_table(
        self,
        sort: str = "matched",
        order: str = "desc",
        offset: int = 0,
        limit: int = 100,
        search: str = "",
    ) -> dict:
        if sort not in ENTRY_SORTS:
            raise BadRequest(f"unknown sort {sort!r}; use one of {sorted(ENTRY_SORTS)}")
        if order not in ("asc", "desc"):
            raise BadRequest(f"unknown order {order!r}; use asc or desc")
        where, params = "entry ILIKE '%' || ? || '%'", [search]
        self._stats()
        total = self._q(f"SELECT count(*) AS n FROM entry_stats WHERE {where}", params)[0]["n"]
        rows = self._q(
            f"""SELECT entry, matched, selected, kept FROM entry_stats WHERE {where}
                ORDER BY {ENTRY_SORTS[sort]} {order}, entry LIMIT ? OFFSET ?""",
            [*params, max(0, min(limit, 1000)), max(0, offset)],
        )
        return {"total": total, "t": self.src.t, "rows": rows}


def _stages(row: dict) -> list[dict]:
    """The pair's way through the stages: passed, where it stopped and why, not reached."""
    out, reached = [], True
    for stage in STAGES:
        if stage in (Stage.SHARDS, Stage.SUBSAMPLE) and row["drop_stage"] != stage:
            continue  # rare stages: shown only where a pair stopped there
        if not reached:
            out.append({"stage": stage, "state": "not reached"})
        elif row["drop_stage"] == stage:
            out.append({"stage": stage, "state": "dropped", "reason": row["drop_reason"]})
            reached = False
        else:
            out.append({"stage": stage, "state": "passed"})
    if row["status"] == Status.KEPT:
        out.append({"stage": "shards", "state": "kept", "reason": f"shard {row['shard']}"})
    return out
