import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openwit.pipeline.sandbox.captions import JUNK_KINDS
from openwit.pipeline.shards.filters import CaptionFilter, ImageFilter, LanguageFilter, apply


@pytest.fixture(scope="module")
def truth(sandbox_dir):
    return pq.read_table(sandbox_dir / "truth" / "candidates.parquet").to_pylist()


def test_language_filter_f1_on_planted_non_english(truth):
    known = [c for c in truth if c["lang"] not in ("junk", "und")]
    table = pa.table({"caption": [c["caption"] for c in known]})
    dropped = [r == "language" for r in LanguageFilter().reasons(table)]
    foreign = [c["lang"] != "en" for c in known]
    tp = sum(d and f for d, f in zip(dropped, foreign, strict=True))
    fp = sum(d and not f for d, f in zip(dropped, foreign, strict=True))
    fn = sum(f and not d for d, f in zip(dropped, foreign, strict=True))
    assert sum(foreign) >= 50
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.95, (tp, fp, fn)


def test_caption_filter_catches_every_planted_junk_caption(truth):
    f = CaptionFilter()
    junk = [c for c in truth if c["caption_kind"] in JUNK_KINDS]
    assert {c["caption_kind"] for c in junk} == set(JUNK_KINDS)
    assert all(f.reason(c["caption"]) for c in junk)
    natural = [c for c in truth if c["caption_kind"] == "natural" and c["asset_kind"] == "scene"]
    assert sum(1 for c in natural if f.reason(c["caption"])) <= 0.01 * len(natural)


def test_image_filter_and_apply_record_the_first_reason():
    t = pa.table(
        {
            "caption": [
                "Two red circles on white",
                "IMG_1.jpg",
                "Drei rote Kreise auf weißem Grund",
                "A tiny blue star here",
                "A very wide green banner image",
            ],
            "original_width": [300, 300, 300, 20, 900],
            "original_height": [300, 300, 300, 20, 100],
        }
    )
    out = apply(t, [CaptionFilter(), ImageFilter(), LanguageFilter()])
    assert out.column("drop_reason").to_pylist() == [
        None,
        "caption_filename",
        "language",
        "image_too_small",
        "image_aspect_ratio",
    ]
