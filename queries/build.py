"""Build, version and load the query list.

A list is written to `<out>/queries-<hash>/` where the hash covers the entries in order (an
entry's id is its position, so the order is part of the content):
  entries.parquet  entry, source, score (one row an entry; id = row number)
  entries.txt      the plain list, one entry a line
  metadata.json    MetaCLIP's format: a JSON array of strings
  summary.json     counts per source, the config, the hash
and `<out>/LATEST` names the newest build.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from openwit.core.io import atomic_write_bytes, atomic_write_text
from openwit.queries import sources, wordnet

SOURCES = ("wordnet", "unigram", "bigram", "title", "number")


@dataclass(frozen=True)
class QueryConfig:
    wordnet_dir: str = str(wordnet.DEFAULT_WORDNET_DIR)
    wordnet_lemmas: str = "all"  # "names": only each synset's head lemma, as MetaCLIP
    unigram_min_zipf: float = 1.0  # wordfreq's whole large English list
    # Capitalised forms ("Dog") of the words this frequent; 9 (no word is) turns them off.
    unigram_capitalised_min_zipf: float = 3.0
    bigram_min_pmi: float = 6.0
    bigram_min_count: int = 2
    corpus_files: tuple[str, ...] = ()  # extra text for bigram PMI, besides the WordNet glosses
    title_files: tuple[str, ...] = ()  # extra titles, one a line


@dataclass
class QueryList:
    entries: list[str]
    sources: list[str] = field(default_factory=list)  # the first source that produced each
    scores: list[float] = field(default_factory=list)
    produced: dict[str, int] = field(default_factory=dict)  # per source, overlaps included

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def digest(self) -> str:
        return content_hash(self.entries)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(SOURCES, 0) if self.sources else {}
        for s in self.sources:
            out[s] = out.get(s, 0) + 1
        return out


def content_hash(entries: Iterable[str]) -> str:
    h = hashlib.sha256()
    for e in entries:
        h.update(e.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:12]


def _valid(entry: str) -> bool:
    # A newline or NUL cannot occur in matched text ("\n" becomes a space) and would break the
    # plain-list format, so such entries could never match anything: drop them at the door.
    return bool(entry) and "\n" not in entry and "\r" not in entry and "\0" not in entry


def _sourced(cfg: QueryConfig) -> Iterator[tuple[str, str, float]]:
    synsets = list(wordnet.iter_synsets(Path(cfg.wordnet_dir)))
    for e, s in sources.wordnet_names(synsets, cfg.wordnet_lemmas):
        yield e, "wordnet", s
    for e, s in sources.unigrams(cfg.unigram_min_zipf):
        yield e, "unigram", s
    for e, s in sources.capitalised_unigrams(cfg.unigram_capitalised_min_zipf):
        yield e, "unigram", s
    corpus = list(wordnet.gloss_sentences(synsets))
    corpus += list(sources.read_corpus(Path(p) for p in cfg.corpus_files))
    for e, s in sources.bigrams(corpus, cfg.bigram_min_pmi, cfg.bigram_min_count):
        yield e, "bigram", s
    for e, s in sources.titles(synsets, [Path(p) for p in cfg.title_files]):
        yield e, "title", s
    for e, s in sources.numbers():
        yield e, "number", s


def build(cfg: QueryConfig) -> QueryList:
    """All sources in MetaCLIP's order; an entry keeps the first source that produced it.

    `produced` counts what each source gave before de-duplication (MetaCLIP's table counts
    sources that way), `counts()` what each contributed first.
    """
    seen: set[str] = set()
    per_source: dict[str, set[str]] = {s: set() for s in SOURCES}
    ql = QueryList([], [], [])
    for entry, source, score in _sourced(cfg):
        entry = entry.strip()
        if not _valid(entry):
            continue
        per_source[source].add(entry)
        if entry in seen:
            continue
        seen.add(entry)
        ql.entries.append(entry)
        ql.sources.append(source)
        ql.scores.append(score)
    ql.produced = {s: len(v) for s, v in per_source.items()}
    return ql


def write(ql: QueryList, out_dir: Path, config: QueryConfig | None = None) -> Path:
    """Write a versioned list; a rerun with the same entries rewrites the same folder."""
    target = Path(out_dir) / f"queries-{ql.digest}"
    target.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "entry": pa.array(ql.entries, pa.string()),
            "source": pa.array(ql.sources or ["external"] * len(ql), pa.string()),
            "score": pa.array(ql.scores or [0.0] * len(ql), pa.float64()),
        }
    )
    tmp = target / f".entries.parquet.{os.getpid()}"
    pq.write_table(table, tmp)
    os.replace(tmp, target / "entries.parquet")
    atomic_write_text(target / "entries.txt", "".join(e + "\n" for e in ql.entries))
    atomic_write_bytes(
        target / "metadata.json", json.dumps(ql.entries, ensure_ascii=False).encode()
    )
    summary = {
        "name": target.name,
        "hash": ql.digest,
        "total": len(ql),
        "per_source": ql.produced,
        "first_source": ql.counts(),
        "config": asdict(config) if config else None,
    }
    atomic_write_text(target / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(Path(out_dir) / "LATEST", target.name + "\n")
    return target


def load(path: str | Path) -> QueryList:
    """Load a built list (its folder, or `entries.parquet`), a folder holding `LATEST`,
    or an external MetaCLIP-style `metadata.json` (a JSON array of strings)."""
    path = Path(path)
    if path.is_dir() and (path / "LATEST").is_file():
        path = path / (path / "LATEST").read_text().strip()
    if path.is_dir():
        path = path / "entries.parquet"
    if not path.exists():
        raise FileNotFoundError(
            f"query list not found: {path}; build one with `openwit queries build` "
            "or pass a MetaCLIP metadata.json"
        )
    if path.suffix == ".parquet":
        t = pq.read_table(path).to_pydict()
        return QueryList(t["entry"], t["source"], t["score"])
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list) or not all(isinstance(e, str) for e in data):
            raise ValueError(f"{path}: expected a JSON array of strings (MetaCLIP metadata.json)")
        return QueryList(list(data), ["external"] * len(data), [0.0] * len(data))
    raise ValueError(f"{path}: unknown query list format; give a folder, .parquet or .json")
