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


# Images as a browser shows them.


def decoded(out) -> Image.Image:
    assert out.status == "success", out.error
    return Image.open(io.BytesIO(out.data)).convert("RGB")


def quadrants(w, h) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right."""
    im = Image.new("RGB", (w, h))
    for box, c in [
        ((0, 0, w // 2, h // 2), (255, 0, 0)),
        ((w // 2, 0, w, h // 2), (0, 255, 0)),
        ((0, h // 2, w // 2, h), (0, 0, 255)),
        ((w // 2, h // 2, w, h), (255, 255, 255)),
    ]:
        im.paste(c, box)
    return im


def close(a, b, tol=40):
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    "orientation, top_left",
    [
        (1, (255, 0, 0)),
        (2, (0, 255, 0)),  # mirrored
        (3, (255, 255, 255)),  # turned half
        (4, (0, 0, 255)),  # flipped
        (5, (255, 0, 0)),  # transposed
        (6, (0, 0, 255)),  # a quarter clockwise
        (7, (255, 255, 255)),  # transversed
        (8, (0, 255, 0)),  # a quarter anticlockwise
    ],
)
def test_exif_orientation_comes_before_every_size(orientation, top_left):
    stored = quadrants(800, 400)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, "JPEG", exif=exif, quality=95)
    out = process(buf.getvalue(), "image/jpeg", ResizeConfig(image_size=256))
    turned = orientation in (5, 6, 7, 8)
    upright = (400, 800) if turned else (800, 400)
    assert (out.original_width, out.original_height) == upright
    want = (256, 512) if turned else (512, 256)
    im = decoded(out)
    assert im.size == want == (out.width, out.height)  # turned, never squashed
    assert close(im.getpixel((10, 10)), top_left)


def test_sixteen_bit_and_float_pixels_are_scaled_not_clipped():
    import numpy as np

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(buf, "PNG")
    assert close(
        decoded(process(buf.getvalue(), "image/png", ResizeConfig())).getpixel((0, 0)),
        (128,) * 3,
        2,
    )
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), 0.25, np.float32)).save(buf, "TIFF")
    assert close(
        decoded(process(buf.getvalue(), "image/tiff", ResizeConfig())).getpixel((0, 0)),
        (64,) * 3,
        2,
    )


def test_transparency_is_composited_on_the_stated_background():
    buf = io.BytesIO()
    Image.new("LA", (8, 8), (0, 0)).save(buf, "PNG")  # black, fully transparent
    cfg = ResizeConfig(background=(10, 200, 30))
    assert close(
        decoded(process(buf.getvalue(), "image/png", cfg)).getpixel((0, 0)), (10, 200, 30), 4
    )


def test_cmyk_becomes_rgb():
    buf = io.BytesIO()
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(buf, "JPEG")  # pure red ink
    assert close(
        decoded(process(buf.getvalue(), "image/jpeg", ResizeConfig())).getpixel((5, 5)), (255, 0, 0)
    )


def _swapped_primaries_profile() -> bytes:
    """An RGB display profile whose red and green colorants are sRGB's green and red."""
    import struct

    def s15(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    curve = b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", 0x0233) + b"\0\0"
    desc_text = b"swapped\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(desc_text)) + desc_text + b"\0" * 79
    desc += b"\0" * (-len(desc) % 4)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.3851, 0.7169, 0.0971)),  # sRGB's green
        (b"gXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body + b"\0" * (-len(body) % 4)
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + b"\0" * 4
        + xyz(0.9642, 1.0, 0.8249)[8:]
        + b"\0" * 4
        + b"\0" * 16
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def test_an_embedded_icc_profile_is_converted_to_srgb():
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (255, 0, 0)).save(
        buf, "PNG", icc_profile=_swapped_primaries_profile()
    )
    r, g, b = decoded(process(buf.getvalue(), "image/png", ResizeConfig())).getpixel((0, 0))
    assert g > 200 and r < 60  # the file's "red" is green on screen


def test_an_animation_gives_its_first_frame_and_avif_webp_heif_decode():
    frames = [Image.new("RGB", (32, 32), c) for c in [(0, 0, 255), (255, 0, 0)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert close(
        decoded(process(buf.getvalue(), "image/gif", ResizeConfig())).getpixel((1, 1)), (0, 0, 255)
    )
    for fmt in ("WEBP", "AVIF"):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (0, 160, 0)).save(buf, fmt, quality=90)
        assert close(
            decoded(process(buf.getvalue(), f"image/{fmt.lower()}", ResizeConfig())).getpixel(
                (16, 16)
            ),
            (0, 160, 0),
        )
    pillow_heif = pytest.importorskip("pillow_heif")
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (32, 32), (0, 0, 200))).save(buf, quality=90)
    assert close(
        decoded(process(buf.getvalue(), "image/heic", ResizeConfig())).getpixel((16, 16)),
        (0, 0, 200),
    )
