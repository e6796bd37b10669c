"""Read WordNet 3.0 straight from its database files (Debian's `wordnet-base`).

No NLTK: the `data.<pos>` files are one synset a line and easy to parse, and reading them
directly keeps the build offline and fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
POS_FILES = ("noun", "verb", "adj", "adv")
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")


@dataclass(frozen=True)
class Synset:
    offset: str
    pos: str
    lemmas: tuple[str, ...]  # underscores turned into spaces, case kept
    is_instance: bool  # an instance noun (a named thing: "Paris", "Albert Einstein")
    gloss: str

    @property
    def name(self) -> str:
        return self.lemmas[0]


class WordNetMissingError(FileNotFoundError):
    pass


def require_wordnet(root: Path = DEFAULT_WORDNET_DIR) -> Path:
    if not (root / "data.noun").is_file():
        raise WordNetMissingError(
            f"WordNet not found at {root}: install it with `sudo apt-get install wordnet-base` "
            "(or `make install`), or pass --wordnet-dir pointing at a WordNet 3.0 dict folder"
        )
    return root


def _parse_line(line: str, pos: str) -> Synset:
    head, _, gloss = line.partition(" | ")
    fields = head.split()
    offset, n_words = fields[0], int(fields[3], 16)
    lemmas = []
    for i in range(n_words):
        word = _ADJ_MARKER.sub("", fields[4 + 2 * i])
        lemmas.append(word.replace("_", " "))
    p_at = 4 + 2 * n_words
    n_ptrs = int(fields[p_at])
    symbols = fields[p_at + 1 : p_at + 1 + 4 * n_ptrs : 4]
    return Synset(offset, pos, tuple(lemmas), "@i" in symbols, gloss.strip())


def iter_synsets(root: Path = DEFAULT_WORDNET_DIR) -> Iterator[Synset]:
    """Every synset in file order: nouns, verbs, adjectives, adverbs."""
    root = require_wordnet(root)
    for pos in POS_FILES:
        with open(root / f"data.{pos}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                yield _parse_line(line.rstrip("\n"), pos)


def gloss_sentences(synsets: list[Synset]) -> Iterator[str]:
    """Definitions and quoted example sentences: the default corpus for bigram PMI."""
    for s in synsets:
        for part in s.gloss.split(";"):
            part = part.strip().strip('"').strip()
            if part:
                yield part
