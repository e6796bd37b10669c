"""The four sources of MetaCLIP's query list, rebuilt from what is available offline.

MetaCLIP (Xu et al., 2023) took WordNet synset names, Wikipedia unigrams seen >= 100 times,
Wikipedia bigrams with PMI >= 30, and popular Wikipedia titles. Here: WordNet from its own
files, unigram frequencies from `wordfreq` (whose English list is built from Wikipedia,
subtitles, news, books and the web) plus the capitalised forms of the frequent ones, bigrams
by PMI over a text corpus, and titles from WordNet's instance nouns plus any title file.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from openwit.queries.wordnet import Synset

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")
_HAS_WORD_CHAR = re.compile(r"\w")


def wordnet_names(synsets: Iterable[Synset], lemmas: str = "all") -> Iterator[tuple[str, float]]:
    """Each synset's name (its head lemma, MetaCLIP's `synset.name()`), or with `lemmas="all"`
    every lemma of the synset: synonyms ("domestic dog", "Canis familiaris") are concept names
    too, and they stand in for the case variants and Wikipedia bigrams we cannot count offline.
    """
    if lemmas not in ("names", "all"):
        raise ValueError(f"wordnet lemmas must be 'names' or 'all', not {lemmas!r}")
    for s in synsets:
        for lemma in s.lemmas if lemmas == "all" else s.lemmas[:1]:
            yield lemma, 0.0


def unigrams(min_zipf: float, lang: str = "en") -> Iterator[tuple[str, float]]:
    """Words at or above a Zipf frequency (log10 of occurrences per billion words).

    Wikipedia's >= 100 occurrences in ~3B words is a Zipf of ~1.5; wordfreq's large list
    stops at 1.0. Tokens without a letter or digit (emoji, punctuation) are skipped.
    """
    import wordfreq

    for word in wordfreq.top_n_list(lang, 10**7, wordlist="large"):
        zipf = wordfreq.zipf_frequency(word, lang, wordlist="large")
        if zipf < min_zipf:
            break
        if _HAS_WORD_CHAR.search(word):
            yield word, 10 ** (zipf - 9)


def capitalised_unigrams(min_zipf: float, lang: str = "en") -> Iterator[tuple[str, float]]:
    """The capitalised form ("Dog", "Mushroom") of every word at or above a Zipf frequency.

    MetaCLIP counted Wikipedia's unigrams with their case, so a frequent word is also an entry
    as it starts a sentence or a title; `wordfreq` folds case and loses that form, and matching
    is case-sensitive: without it a Title Case alt text ("Dog Drawn With Straight Lines")
    matches nothing. At ~5% of a word's uses capitalised, the form reaches Wikipedia's 100
    occurrences around a Zipf of 3 (~3,000 in 3B words), hence the default threshold.
    Score 0: the form itself was not counted.
    """
    for word, _ in unigrams(min_zipf, lang):
        if word[0].islower():
            yield word[0].upper() + word[1:], 0.0


def bigrams(
    sentences: Iterable[str], min_pmi: float, min_count: int
) -> Iterator[tuple[str, float]]:
    """Adjacent word pairs by pointwise mutual information, log2(p(xy) / (p(x) p(y))).

    Case is kept, as in the rest of the list. Pairs seen fewer than `min_count` times are
    skipped: PMI rewards rare pairs, and a pair seen once is noise. Yields highest PMI first.
    """
    uni: Counter[str] = Counter()
    bi: Counter[tuple[str, str]] = Counter()
    for sentence in sentences:
        toks = _TOKEN.findall(sentence)
        uni.update(toks)
        bi.update(zip(toks, toks[1:], strict=False))
    n_uni = sum(uni.values()) or 1
    n_bi = sum(bi.values()) or 1
    scored = []
    for (x, y), c in bi.items():
        if c < min_count:
            continue
        pmi = math.log2((c / n_bi) / ((uni[x] / n_uni) * (uni[y] / n_uni)))
        if pmi >= min_pmi:
            scored.append((-pmi, x, y, c))
    scored.sort()
    for neg_pmi, x, y, _c in scored:
        yield f"{x} {y}", -neg_pmi


def titles(
    synsets: Iterable[Synset], title_files: Iterable[Path] = ()
) -> Iterator[tuple[str, float]]:
    """WordNet instance nouns (named people, places, events), then any title file (one a line)."""
    for s in synsets:
        if s.is_instance:
            for lemma in s.lemmas:
                yield lemma, 0.0
    for path in title_files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                title = line.strip()
                if title:
                    yield title, 0.0


def numbers() -> Iterator[tuple[str, float]]:
    """MetaCLIP adds the strings "0" to "99"."""
    for i in range(100):
        yield str(i), 0.0


def read_corpus(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            yield from (line for line in f if line.strip())
