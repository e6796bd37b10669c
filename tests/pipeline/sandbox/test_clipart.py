import pytest

from openwit.pipeline.sandbox import clipart
from openwit.pipeline.sandbox.clipart import Clip

CAT = Clip("animals/cat.png", "animals", "Cartoon cat", "A cat, sitting.", ("cat", "pet"))


def test_caption_styles_put_the_human_text_as_pages_do():
    assert clipart.caption(CAT, 0) == "Cartoon cat"
    assert clipart.caption(CAT, 1) == "Cartoon cat - A cat, sitting."
    assert clipart.caption(CAT, 2) == "Cartoon cat: cat, pet"
    signs = Clip("signs_and_symbols/x.png", "signs_and_symbols", "Stop", "", ())
    assert clipart.caption(signs, 1) == clipart.caption(signs, 2) == "Stop"  # nothing to add


needs_package = pytest.mark.skipif(
    not (clipart.DEFAULT_CLIPART_DIR / "png").is_dir(), reason="openclipart-png not installed"
)


@needs_package
def test_distinct_serves_one_of_each_look_alike_pair():
    by_path = {c.path: c for c in clipart.catalogue()}
    # Pairs that pipeline.dedup confirms as near duplicates: served both, the ground truth
    # would call a true duplicate distinct.
    pairs = [
        (
            "signs_and_symbols/flags/united_states_daniel_mcr_01.png",
            "signs_and_symbols/flags/historic/usa_betsy_ross_historic.png",
        ),
        (
            "computer/icons/lemon-theme/actions/mail_find.png",
            "computer/icons/lemon-theme/actions/viewmag-.png",
        ),
    ]
    for a, b in pairs:
        assert clipart.distinct([by_path[a], by_path[b]], 2) == [by_path[a]]
        assert clipart.distinct([by_path[a]], 1, avoid=[by_path[b]]) == []
    unlike = [by_path[pairs[0][0]], by_path[pairs[1][0]]]
    assert clipart.distinct(unlike, 2) == unlike
