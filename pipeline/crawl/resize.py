"""Validate, decode, resize and re-encode one downloaded image.

Resize modes follow img2dataset's (`no`, `keep_ratio`, `keep_ratio_largest`, `center_crop`,
`border`), so its users get the same pictures. The declared pixel count is checked from the
header before any decoding: a decompression bomb is refused, never expanded. JPEGs are
decoded at a reduced scale when the target is much smaller (libjpeg's DCT scaling), the
largest single saving on real photos.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from openwit.core.vocab import SUCCESS

MODES = ("no", "keep_ratio", "keep_ratio_largest", "center_crop", "border")
_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
# Our own cap (`max_pixels`) decides, from the header; Pillow's warning would only repeat it.
# (warnings.catch_warnings is not thread-safe, so the filter is set once, here.)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class ResizeConfig:
    image_size: int = 256
    resize_mode: str = "keep_ratio"  # shortest side = image_size
    resize_only_if_bigger: bool = True  # never upscale: filters see the true size
    encode_format: str = "jpg"
    encode_quality: int = 95
    max_pixels: int = 89_478_485  # Pillow's own warning threshold

    def __post_init__(self) -> None:
        if self.resize_mode not in MODES:
            raise ValueError(f"resize_mode {self.resize_mode!r}: choose one of {MODES}")
        if self.encode_format not in _FORMATS:
            raise ValueError(f"encode_format {self.encode_format!r}: choose jpg, png or webp")


@dataclass
class Processed:
    status: str
    data: bytes | None = None
    error: str = ""
    width: int | None = None
    height: int | None = None
    original_width: int | None = None
    original_height: int | None = None
    sha256: str | None = None


def target_size(w: int, h: int, cfg: ResizeConfig) -> tuple[int, int]:
    """The size before any crop or border."""
    if cfg.resize_mode == "no":
        return w, h
    side = min(w, h) if cfg.resize_mode in ("keep_ratio", "center_crop") else max(w, h)
    scale = cfg.image_size / side
    if cfg.resize_only_if_bigger and scale >= 1:
        return w, h
    return max(1, round(w * scale)), max(1, round(h * scale))


def _rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        canvas = Image.new("RGB", im.size, (255, 255, 255))
        canvas.paste(im, mask=im.split()[-1])
        return canvas
    return im.convert("RGB")


def process(body: bytes, content_type: str, cfg: ResizeConfig) -> Processed:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype.startswith(("text/", "application/json", "application/xml", "application/xhtml")):
        return Processed("not_an_image", error=f"content-type {ctype}")
    try:
        im = Image.open(io.BytesIO(body))  # reads the header only
    except Image.DecompressionBombError as e:
        return Processed("too_large", error=str(e)[:200])
    except Exception as e:  # noqa: BLE001 - any unreadable header
        status = "decode_error" if ctype.startswith("image/") else "not_an_image"
        return Processed(status, error=f"{type(e).__name__}: {e}"[:200])
    w, h = im.size
    if w * h > cfg.max_pixels:
        return Processed("too_large", error=f"{w}x{h} pixels declared")
    try:
        tw, th = target_size(w, h, cfg)
        if im.format == "JPEG" and (tw, th) != (w, h):
            im.draft("RGB", (tw, th))
        im = _rgb(ImageOps.exif_transpose(im))
        if im.size != (tw, th):
            im = im.resize((tw, th), Image.LANCZOS, reducing_gap=3.0)
        im = _finish(im, cfg)
        out = io.BytesIO()
        fmt = _FORMATS[cfg.encode_format]
        im.save(out, fmt, **({"quality": cfg.encode_quality} if fmt != "PNG" else {}))
    except Exception as e:  # noqa: BLE001 - truncated or corrupt data shows up here
        return Processed("decode_error", error=f"{type(e).__name__}: {e}"[:200])
    return Processed(
        SUCCESS, out.getvalue(), "", im.width, im.height, w, h, hashlib.sha256(body).hexdigest()
    )


def _finish(im: Image.Image, cfg: ResizeConfig) -> Image.Image:
    s = cfg.image_size
    if cfg.resize_mode == "center_crop" and min(im.size) >= s:
        left, top = (im.width - s) // 2, (im.height - s) // 2
        return im.crop((left, top, left + s, top + s))
    if cfg.resize_mode == "border" and max(im.size) <= s:
        canvas = Image.new("RGB", (s, s), (255, 255, 255))
        canvas.paste(im, ((s - im.width) // 2, (s - im.height) // 2))
        return canvas
    return im
