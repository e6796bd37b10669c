"""Hard negative captions: one token swapped for one seen between the same two tokens."""

import numpy as np
import open_clip
import torch

from openwit.train import negatives
from openwit.train.text import FastTokenizer

TOK = open_clip.get_tokenizer("RN50")
ENCODE = FastTokenizer.wrap(TOK)
EOT = TOK.eot_token_id

CAPTIONS = [
    "a large red star on a white background",
    "two red circles on a grey background",
    "a small red circle on a white background",
    "Illustration of a blue heart",
    "close-up of a green heart",
    "Lemon SVG theme",
]


def words(row: torch.Tensor) -> list[str]:
    text = TOK.decode(row.tolist()).split("<end_of_text>")[0]
    return text.replace("<start_of_text>", "").split()


def test_each_negative_changes_one_word_to_a_filler_of_the_same_slot():
    tokens = ENCODE(CAPTIONS)
    neg, valid = negatives.swap_one_word(tokens, np.random.default_rng(0), EOT)
    assert valid.tolist() == [True, True, True, True, True, False]
    rows = tokens.tolist()
    for r in range(5):
        (i,) = (neg[r] != tokens[r]).nonzero().flatten().tolist()
        assert i >= 2  # never the first word after the start token
        left, new, right = rows[r][i - 1], int(neg[r, i]), rows[r][i + 1]
        assert any(
            row[j - 1 : j + 2] == [left, new, right] for row in rows for j in range(1, len(row) - 1)
        )
    assert torch.equal(neg[5], tokens[5])  # nothing to swap: unchanged, and masked


def test_the_swaps_are_fluent_captions_that_differ_in_content():
    tokens = ENCODE(CAPTIONS[:3])
    seen = set()
    for seed in range(30):
        neg, _ = negatives.swap_one_word(tokens, np.random.default_rng(seed), EOT)
        seen.add(" ".join(words(neg[0])))
    assert seen == {
        "a large red circle on a white background",  # shape: "red circle on" in row 2
        "a large red circles on a white background",  # count: "red circles on" in row 1
        "a small red star on a white background",  # size: "a small red" in row 2
        "a large red star on a grey background",  # background: "a grey background" in row 1
    }


def test_same_generator_seed_same_negatives():
    tokens = ENCODE(CAPTIONS)
    a = negatives.swap_one_word(tokens, np.random.default_rng([0, 7]), EOT)
    b = negatives.swap_one_word(tokens, np.random.default_rng([0, 7]), EOT)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
