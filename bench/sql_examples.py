"""Re-run the example queries of docs/sql.md on a shards folder and write their output back, so
the page shows what the current default gives.

    python -m bench.sql_examples --shards data/shards [--doc docs/sql.md]
"""

from __future__ import annotations

import argparse
import re
from datetime import date
from pathlib import Path

from openwit.core.io import atomic_write_text
from openwit.pipeline.shards import sql

BLOCK = re.compile(r"(```sql\n([\s\S]*?)\n```\n\n)((?:\|[^\n]*\n)+)")


def table(columns: list[str], rows: list[tuple]) -> str:
    def cell(v) -> str:
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", default="data/shards")
    ap.add_argument("--queries", default=None, help="query list (default: the crawl's)")
    ap.add_argument("--doc", default="docs/sql.md")
    args = ap.parse_args()
    con = sql.connect(args.shards, args.queries or "data/queries")
    doc = Path(args.doc)
    text = BLOCK.sub(lambda m: m.group(1) + table(*sql.query(con, m.group(2))), doc.read_text())
    text = re.sub(
        r"Real output on the default sandbox \(.*?\)\.",
        f"Real output on the default sandbox (`make crawl && make shards`, {date.today()}).",
        text,
    )
    atomic_write_text(doc, text)
    print(f"{doc}: {len(BLOCK.findall(text))} examples re-run on {args.shards}")


if __name__ == "__main__":
    main()
