import io

import pytest
from PIL import Image

from openwit.pipeline.crawl.resize import ResizeConfig, process, target_size
from openwit.pipeline.sandbox.assets import bomb_png


def encoded(w, h, mode="RGB", fmt="JPEG"):
    buf = io.BytesIO()
    Image.new(mode, (w, h), (200, 10, 10, 0) if mode == "RGBA" else (200, 10, 10)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    "mode,size,want",
    [
        ("keep_ratio", (800, 400), (512, 256)),
        ("keep_ratio_largest", (800, 400), (256, 128)),
        ("center_crop", (800, 400), (256, 256)),
        ("border", (800, 400), (256, 256)),
        ("no", (800, 400), (800, 400)),
        ("keep_ratio", (100, 50), (100, 50)),
    ],
)
def test_modes(mode, size, want):
    out = process(encoded(*size), "image/jpeg", ResizeConfig(resize_mode=mode))
    assert out.status == "success" and (out.width, out.height) == want
    assert (out.original_width, out.original_height) == size
    with Image.open(io.BytesIO(out.data)) as im:
        assert im.format == "JPEG" and im.size == want


def test_upscale_when_asked():
    assert target_size(100, 50, ResizeConfig(resize_only_if_bigger=False)) == (512, 256)


def test_bomb_is_refused_from_its_header():
    out = process(bomb_png(), "image/png", ResizeConfig())
    assert out.status == "too_large"


def test_transparency_becomes_white_and_statuses_are_named():
    out = process(encoded(40, 40, "RGBA", "PNG"), "image/png", ResizeConfig())
    with Image.open(io.BytesIO(out.data)) as im:
        assert im.getpixel((5, 5))[0] > 240
    assert process(b"<html></html>", "text/html", ResizeConfig()).status == "not_an_image"
    assert process(b"\xff\xd8\xff garbage", "image/jpeg", ResizeConfig()).status == "decode_error"
    with pytest.raises(ValueError, match="resize_mode"):
        ResizeConfig(resize_mode="stretch")
