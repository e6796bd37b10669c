"""open_clip's CLIP tokenizer, with its text cleaning skipped where it cannot change anything.

SimpleTokenizer runs ftfy and html.unescape (twice) over every caption before BPE, which costs
more than the BPE itself. On printable ASCII without '&' both are no-ops (the crawl has already
repaired the text), so only whitespace folding and lower-casing remain. The token ids are the
same as open_clip's (tested on every sandbox caption); other tokenizers are used as given.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from open_clip.tokenizer import SimpleTokenizer

_PLAIN = re.compile(r"[\t\n\r\x20-\x25\x27-\x7e]*")  # printable ASCII and whitespace, no '&'


class FastTokenizer:
    def __init__(self, tok: SimpleTokenizer):
        self.tok = tok
        self.context_length = tok.context_length

    @classmethod
    def wrap(cls, tok):
        """A FastTokenizer over open_clip's default BPE tokenizer, else `tok` itself."""
        plain = (
            isinstance(tok, SimpleTokenizer)
            and tok.reduction_fn is None
            and tok.clean_fn(" A  b&amp;c ") == "a b&c"  # the default 'lower' cleaning
        )
        return cls(tok) if plain else tok

    def ids(self, text: str) -> list[int]:
        tok = self.tok
        plain = _PLAIN.fullmatch(text)
        text = " ".join(text.split()).lower() if plain else tok.clean_fn(text)
        out = [tok.sot_token_id]
        for word in tok.pat.findall(text):
            word = "".join(tok.byte_encoder[b] for b in word.encode("utf-8"))
            out.extend(tok.encoder[t] for t in tok.bpe(word).split(" "))
        out.append(tok.eot_token_id)
        if len(out) > self.context_length:
            out = out[: self.context_length]
            out[-1] = tok.eot_token_id
        return out

    def __call__(self, texts: str | list[str]) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else texts
        result = np.zeros((len(texts), self.context_length), np.int64)
        for i, text in enumerate(texts):
            ids = self.ids(text)
            result[i, : len(ids)] = ids
        return torch.from_numpy(result)
