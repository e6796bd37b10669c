"""Hard negative captions: each caption with one word swapped, scored as an extra column.

CLIP's batch can often be solved from a caption's easiest words: when no other caption in the
batch has the same colour and background, the model never needs the shape word, and it does
not learn it (docs/train.md measures this). NegCLIP (Yuksekgonul et al., 2023) adds, for each
caption, a copy with one word changed, which the image must score below its own caption.

The swap needs no part-of-speech tagger and no word list, so it works on any language the
tokenizer reads: in the token ids, replace one token by another that stands between the
*same two* tokens somewhere else in the batch ("a red star on" → "a red circle on" because
another caption says "red circle on"). Words that fill the same slot are substitutes (the
distributional idea), so the negative stays a fluent caption that differs in content;
swapping on one neighbour alone gives "a white of three squares", which only the text tower
needs to reject. Words right after the start token are left alone: they are mostly a
template's opening ("Illustration of", "close-up of") that the image cannot confirm or deny.
"""

from __future__ import annotations

import numpy as np
import torch


def swap_one_word(
    tokens: torch.Tensor, rng: np.random.Generator, eot: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For a batch of token rows [SOT, w1, ..., EOT, 0, ...]: one negative per row, and
    whether it is one (False where the batch offered no swap; that column must be ignored)."""
    rows = tokens.tolist()
    ends = [row.index(eot) if eot in row else len(row) for row in rows]
    fillers: dict[tuple[int, int], set[int]] = {}  # (left, right) -> tokens seen between
    for row, end in zip(rows, ends, strict=True):
        for i in range(2, end):
            fillers.setdefault((row[i - 1], row[i + 1]), set()).add(row[i])
    neg = tokens.clone()
    valid = torch.zeros(len(rows), dtype=torch.bool)
    for r, (row, end) in enumerate(zip(rows, ends, strict=True)):
        options = [(i, sorted(fillers[row[i - 1], row[i + 1]] - {row[i]})) for i in range(2, end)]
        options = [(i, alts) for i, alts in options if alts]
        if not options:
            continue
        i, alts = options[rng.integers(len(options))]
        neg[r, i] = alts[rng.integers(len(alts))]
        valid[r] = True
    return neg, valid
