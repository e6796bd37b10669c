import json

import pytest

from openwit.queries import sources, wordnet
from openwit.queries.build import QueryConfig, content_hash, load, write
from openwit.queries.match import Matcher


@pytest.fixture(scope="module")
def full_list(query_list):
    return query_list[0]


def test_default_list_has_four_sources_and_about_half_a_million(full_list):
    produced = full_list.produced
    assert produced["wordnet"] > 140_000
    assert produced["unigram"] > 250_000
    assert produced["bigram"] > 20_000
    assert produced["title"] > 10_000
    assert produced["number"] == 100
    assert 420_000 < len(full_list) < 600_000
    assert len(set(full_list.entries)) == len(full_list)
    present = set(full_list.entries)
    for e in ("dog", "Albert Einstein", "Paris", "0", "99", "hot dog", "Skull", "Mushroom"):
        assert e in present, e


def test_capitalised_unigrams_let_title_case_alt_text_match(full_list):
    # A clip-art title as pages write it: matching is case-sensitive, as MetaCLIP's.
    m = Matcher(full_list.entries)
    found = {full_list.entries[i] for i in m.match("Dog Drawn With Straight Lines")}
    assert {"Dog", "Straight", "Lines"} <= found
    forms = dict(sources.capitalised_unigrams(3.0))
    assert "The" in forms and "Dog" in forms and "dog" not in forms
    assert all(w[0].isupper() for w in forms)
    assert not list(sources.capitalised_unigrams(9.0))  # the switch that turns them off


def test_write_load_and_external_metadata(full_list, tmp_path):
    target = write(full_list, tmp_path, QueryConfig())
    assert target.name == f"queries-{content_hash(full_list.entries)}"
    again = load(tmp_path)  # via LATEST
    assert again.entries == full_list.entries
    summary = json.loads((target / "summary.json").read_text())
    assert summary["total"] == len(full_list)
    assert sum(summary["first_source"].values()) == len(full_list)
    assert (target / "entries.txt").read_text().count("\n") == len(full_list)
    external = load(target / "metadata.json")  # MetaCLIP's format loads in place of ours
    assert external.entries == full_list.entries
    m = Matcher(external.entries)
    ids = m.match("a photo of a dog in Paris")
    assert {external.entries[i] for i in ids} >= {"dog", "Paris", "photo", "a"}


def test_bad_inputs_say_what_to_do(tmp_path):
    bad = tmp_path / "metadata.json"
    bad.write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="JSON array of strings"):
        load(bad)
    with pytest.raises(FileNotFoundError, match="openwit queries build"):
        load(tmp_path / "missing")
    with pytest.raises(wordnet.WordNetMissingError, match="wordnet-base"):
        wordnet.require_wordnet(tmp_path)


def test_wordnet_line_parsing():
    line = (
        "09044862 15 n 02 United_States 0 U.S. 0 002 @i 08544813 n 0000 #p 09044862 n 0000 "
        "| North American republic"
    )
    s = wordnet._parse_line(line, "noun")
    assert s.lemmas == ("United States", "U.S.") and s.is_instance and s.gloss.startswith("North")
    adj = wordnet._parse_line("00001740 00 a 01 able(a) 0 000 | (usually followed by `to')", "adj")
    assert adj.lemmas == ("able",) and not adj.is_instance


def test_bigram_pmi_prefers_collocations():
    corpus = ["new york is big", "new york at night", "a big dog", "a big cat", "the dog"] * 3
    got = dict(sources.bigrams(corpus, min_pmi=1.0, min_count=2))
    assert "new york" in got
    assert got["new york"] > got.get("a big", 0)


def test_extra_titles_and_corpus_files(tmp_path):
    t = tmp_path / "titles.txt"
    t.write_text("Zyxwv Quartet\n\n")
    assert ("Zyxwv Quartet", 0.0) in list(sources.titles([], [t]))
