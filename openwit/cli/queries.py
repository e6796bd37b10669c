"""`openwit queries build|match`: the ~500k query list and its matcher."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openwit.cli.ui import console
from openwit.cli.ui import fail as _fail

queries_app = typer.Typer(
    help="The ~500k query list (MetaCLIP's recipe) and its matcher.", no_args_is_help=True
)


@queries_app.command("build")
def queries_build(
    out: Annotated[Path, typer.Option(help="Folder for versioned lists.")] = Path("data/queries"),
    wordnet_dir: Annotated[Path, typer.Option(help="WordNet 3.0 dict folder.")] = Path(
        "/usr/share/wordnet"
    ),
    wordnet_lemmas: Annotated[
        str, typer.Option(help="'all' lemmas or only synset 'names'.")
    ] = "all",
    unigram_min_zipf: Annotated[float, typer.Option(help="wordfreq Zipf threshold.")] = 1.0,
    unigram_capitalised_min_zipf: Annotated[
        float, typer.Option(help="Zipf threshold for capitalised forms ('Dog'); 9 for none.")
    ] = 3.0,
    bigram_min_pmi: Annotated[float, typer.Option(help="log2 PMI threshold for bigrams.")] = 6.0,
    bigram_min_count: Annotated[int, typer.Option(help="Minimum bigram count.")] = 2,
    corpus: Annotated[
        list[Path], typer.Option(help="Extra text for bigram PMI (repeatable).")
    ] = [],  # noqa: B006
    titles: Annotated[list[Path], typer.Option(help="Extra titles, one a line (repeatable).")] = [],  # noqa: B006
) -> None:
    """Build the query list from WordNet, unigrams, high-PMI bigrams and titles."""
    from openwit.queries.build import QueryConfig, build, write
    from openwit.queries.wordnet import WordNetMissingError

    for p in [*corpus, *titles]:
        if not p.is_file():
            _fail(f"{p}: no such file; give a UTF-8 text file, one sentence or title a line")
    cfg = QueryConfig(
        wordnet_dir=str(wordnet_dir),
        wordnet_lemmas=wordnet_lemmas,
        unigram_min_zipf=unigram_min_zipf,
        unigram_capitalised_min_zipf=unigram_capitalised_min_zipf,
        bigram_min_pmi=bigram_min_pmi,
        bigram_min_count=bigram_min_count,
        corpus_files=tuple(map(str, corpus)),
        title_files=tuple(map(str, titles)),
    )
    started = time.time()
    try:
        with console.status("building the query list…"):
            ql = build(cfg)
            target = write(ql, out, cfg)
    except (WordNetMissingError, ValueError) as e:
        _fail(str(e))
    summary = json.loads((target / "summary.json").read_text())
    t = Table(title=f"{len(ql):,} entries in {time.time() - started:.1f}s → {target}")
    t.add_column("source")
    t.add_column("produced", justify="right")
    t.add_column("first from it", justify="right")
    for s, n in summary["per_source"].items():
        t.add_row(s, f"{n:,}", f"{summary['first_source'][s]:,}")
    console.print(t)


@queries_app.command("match")
def queries_match(
    text: Annotated[list[str], typer.Argument(help="Texts to match.")],
    queries: Annotated[
        Path, typer.Option(help="A built list, its folder, or a metadata.json.")
    ] = Path("data/queries"),
) -> None:
    """Print the entries each text contains (MetaCLIP's substring semantics)."""
    from openwit.queries.build import load
    from openwit.queries.match import Matcher

    try:
        ql = load(queries)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    m = Matcher(ql.entries)
    for t, ids in zip(text, m.match_many(text), strict=True):
        print(json.dumps({"text": t, "entries": [ql.entries[i] for i in ids], "ids": ids}))


def ensure_queries(path: Path, default: bool) -> None:
    if default and not (path / "LATEST").is_file():
        console.print(f"no query list at {path}: building the default one first")
        queries_build(out=path)  # the command's own defaults, as `openwit queries build`


def register(app: typer.Typer) -> None:
    app.add_typer(queries_app, name="queries")
