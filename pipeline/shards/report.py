"""`report.html`: one static file that shows what the shards job did, plots as inline PNGs.

The funnel from candidates to final samples, drops by reason, per-entry counts before and
after balancing (the long tail flattened), caption length and language, image sizes, CLIP's
overlap table, and a grid of random final samples with their captions.
"""

from __future__ import annotations

import base64
import html
import io
import random
import tarfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from PIL import Image  # noqa: E402

from openwit.core.html import html_table, png_tag  # noqa: E402
from openwit.core.io import atomic_write_text  # noqa: E402
from openwit.pipeline.shards import sql  # noqa: E402


def _bars(labels: list[str], values: list[int], title: str, horizontal: bool = False) -> str:
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(labels)) if horizontal else 3.2))
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color="#4c72b0")
        ax.set_xscale("log")
    else:
        ax.bar(labels, values, color="#4c72b0")
        ax.tick_params(axis="x", rotation=30)
    ax.set_title(title)
    return png_tag(fig)


def _funnel(con) -> str:
    cur = con.execute("SELECT * FROM funnel")
    names = [d[0].replace("_", " ") for d in cur.description]
    return _bars(names, list(cur.fetchone()), "From candidates to final samples")


def _balance(con) -> str:
    rows = con.execute(
        "SELECT matched, selected, kept FROM entry_balance WHERE entry_id IS NOT NULL"
    ).fetchall()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for col, label in ((0, "matched (before balancing)"), (1, "selected (after)"), (2, "kept")):
        ax.plot(sorted((r[col] for r in rows), reverse=True), label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("query entries, by rank")
    ax.set_ylabel("pairs")
    ax.set_title("Pairs per query entry: balancing flattens the head")
    ax.legend()
    return png_tag(fig)


def _hist(values: list[float], title: str, xlabel: str, bins: int = 40) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(values, bins=bins, color="#55a868")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return png_tag(fig)


def _samples(out: Path, n: int = 16, seed: int = 0) -> str:
    tars = sorted(out.glob("[0-9]*.tar"))
    if not tars:
        return "<p>No final samples.</p>"
    with tarfile.open(tars[0]) as tar:
        files: dict[str, dict[str, bytes]] = {}
        for m in tar:
            key, ext = m.name.split(".", 1)
            files.setdefault(key, {})[ext] = tar.extractfile(m).read()
    keys = sorted(files)
    cells = []
    for key in random.Random(seed).sample(keys, min(n, len(keys))):
        f = files[key]
        image = next(v for e, v in f.items() if e not in ("txt", "json"))
        with Image.open(io.BytesIO(image)) as im:
            im = im.convert("RGB")
            im.thumbnail((160, 160))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
        caption = html.escape(f.get("txt", b"").decode("utf-8", "replace"))
        src = base64.b64encode(buf.getvalue()).decode()
        cells.append(
            f'<figure><img src="data:image/jpeg;base64,{src}"><figcaption>{caption}'
            "</figcaption></figure>"
        )
    return '<div class="grid">' + "".join(cells) + "</div>"


def write(out: str | Path, queries: str | None = None) -> Path:
    out = Path(out)
    con = sql.connect(out, queries)
    drops = con.execute("SELECT stage || ': ' || reason, pairs FROM drops_by_reason").fetchall()
    downloaded = "key IS NOT NULL AND lang IS NOT NULL"
    words = [
        r[0]
        for r in con.execute(
            f"SELECT len(string_split(caption, ' ')) FROM candidates WHERE {downloaded}"
        ).fetchall()
    ]
    langs = con.execute(
        f"SELECT lang, count(*) FROM candidates WHERE {downloaded} "
        "GROUP BY 1 ORDER BY 2 DESC LIMIT 12"
    ).fetchall()
    sides = [
        r[0]
        for r in con.execute(
            "SELECT least(original_width, original_height) FROM candidates "
            "WHERE original_width IS NOT NULL"
        ).fetchall()
    ]
    overlap = con.execute(
        'SELECT set, "all", overlap, clean, round(100 * overlap_share, 2) FROM contamination'
    ).fetchall()
    parts = [
        "<h1>OpenWIT shards report</h1>",
        f"<p>{html.escape(str(out))}</p>",
        _funnel(con),
        "<h2>Drops by reason</h2>",
        _bars([d[0] for d in drops], [d[1] for d in drops], "Dropped pairs by stage: reason", True)
        if drops
        else "",
        "<h2>Balancing</h2>",
        _balance(con),
        "<h2>Captions</h2>",
        _hist(
            [min(w, 60) for w in words],
            "Caption length (downloaded pairs)",
            "words (60 = 60 or more)",
        )
        if words
        else "",
        _bars([r[0] for r in langs], [r[1] for r in langs], "Caption language (fastText top label)")
        if langs
        else "",
        "<h2>Images</h2>",
        _hist([min(s, 1200) for s in sides], "Shortest side of the downloaded images", "pixels")
        if sides
        else "",
        "<h2>Evaluation overlap (CLIP §5)</h2>",
        html_table(overlap, ["set", "all", "overlap", "clean", "overlap %"])
        if overlap
        else "<p>No evaluation sets given.</p>",
        "<h2>Random final samples</h2>",
        _samples(out),
    ]
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}.grid{display:flex;flex-wrap:wrap}"
        "figure{width:170px;margin:4px;font-size:11px}"
    )
    doc = (
        f"<!doctype html><meta charset='utf-8'><title>OpenWIT shards</title><style>{style}</style>"
        + "\n".join(parts)
    )
    atomic_write_text(out / "report.html", doc)
    return out / "report.html"
