import pickle
import random

import pytest

from openwit.queries.match import Matcher, naive_match, spacing
from openwit.queries.wordnet import iter_synsets

EDGE_ENTRIES = [
    "gas",
    "Gas",
    "GAS",
    "U.S.",
    "C++",
    "New York",
    "New York City",
    "York",
    "café",
    "naïve",
    "東京",
    "🙂",
    "a",
    "I",
    "0",
    "7",
    "99",
    "x-ray",
    "rock 'n' roll",
    "e.g.",
    "dog",
    "dog",
    "hot dog",
    "don't",
    "?",
    "!",
    ",",
    "end.",
    "tab\there",
    " leading",
    "trailing ",
    "a  b",
]


@pytest.fixture(scope="module")
def entries():
    heads = sorted({s.name for s in iter_synsets()})
    rnd = random.Random(0)
    return rnd.sample(heads, 8000) + EDGE_ENTRIES


def _texts(entries, n):
    rnd = random.Random(1)
    glue = [" ", "  ", ", ", ". ", "; ", ":", "?", "!", "`", "\t", "\n", "\r\n", "-", "'", "/"]
    noise = [
        "Straße",
        "東京タワー",
        "🙂🙂",
        "naïve",
        "Ünïcödé",
        "",
        "   ",
        "...",
        "U.S.A.",
        "gasoline",
    ]
    out = []
    for _ in range(n):
        parts = [
            rnd.choice(entries) if rnd.random() < 0.6 else rnd.choice(noise)
            for _ in range(rnd.randint(0, 12))
        ]
        text = "".join(p + rnd.choice(glue) for p in parts)
        out.append(text.strip() if rnd.random() < 0.5 else text)
    return out + [
        "",
        " ",
        "gas",
        "Gas gas GAS",
        "U.S. troops",
        "the U.S.",
        "New York City!",
        "I like C++.",
        "dog\tdog\ndog",
        "a  b",
        "tab\there",
        " leading",
        "trailing ",
    ]


def test_spacing_follows_metaclip():
    assert spacing("a,b.c;d:e?f!g`h\ti\nj\rk") == " a , b . c ; d : e ? f ! g ` h i j k "


def test_matches_naive_reference_on_thousands_of_texts(entries):
    m = Matcher(entries)
    texts = _texts(entries, 3000)
    got = m.match_many(texts)
    assert got == [naive_match(t, entries) for t in texts]
    assert sum(map(len, got)) > 3000  # the corpus really exercises the matcher


def test_case_sensitive_and_repeated_entries():
    entries = ["gas", "Gas", "dog", "dog", "hot dog"]
    m = Matcher(entries)
    assert m.match("Gas station") == [1]
    assert m.match("a hot dog, please") == [2, 3, 4]
    assert m.match("hotdog") == []


def test_punctuation_is_split_but_entries_with_dots_never_match():
    m = Matcher(["end", "U.S.", "U"])
    assert m.match("the end.") == [0]
    assert m.match("the U.S. army") == [2]  # " U.S. " cannot occur after spacing: as MetaCLIP


def test_pickle_round_trip_keeps_results(entries):
    m = Matcher(entries)
    m2 = pickle.loads(pickle.dumps(m))
    texts = _texts(entries, 200)
    assert m2.match_many(texts) == m.match_many(texts)
    assert m2.n_entries == len(entries)
