"""Validate, decode, resize and re-encode one downloaded image, as a browser shows it.

Resize modes follow img2dataset's (`no`, `keep_ratio`, `keep_ratio_largest`, `center_crop`,
`border`), so its users get the same pictures. The declared pixel count is checked from the
header before any decoding: a decompression bomb is refused, never expanded. JPEGs are
decoded at a reduced scale when the target is much smaller (libjpeg's DCT scaling), the
largest single saving on real photos.

What the browser would show is what is kept: the EXIF orientation applied before any size is
computed (so `original_width/height` and the target are the upright image's); 16-bit and
float pixels scaled to 8 bits, not clipped; transparency (alpha, palette, grey+alpha)
composited on `background`; an embedded ICC profile converted to sRGB, CMYK without one by
Pillow's inversion; the first frame of an animation. Decoded: JPEG, PNG, GIF, WebP, AVIF,
BMP, TIFF, ICO (Pillow) and HEIF/HEIC (pillow-heif); SVG is not rasterised (not_an_image).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageOps

try:  # HEIF/HEIC (phone photos); AVIF and WebP are Pillow's own
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - an install without the optional decoder
    pass

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
    background: tuple[int, int, int] = (255, 255, 255)  # under transparent pixels

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


_SRGB = ImageCms.createProfile("sRGB")
_SWAPS = {5, 6, 7, 8}  # EXIF orientations that turn the image a quarter: width <-> height


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block means no rotation, as in browsers
        return 1


def _eight_bit(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greys scaled into 0..255 (convert() would clip them)."""
    a = np.asarray(im)
    if im.mode == "F":
        a = a * 255.0 if a.size and float(np.nanmax(a)) <= 1.0 else a / 257.0
    elif im.mode.startswith("I;16") or (a.size and int(a.max()) > 255):
        a = a / 257.0
    return Image.fromarray(np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8), "L")


def _rgb(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "RGBA" if im.mode in ("RGBA", "LA") else "RGB"
            im = ImageCms.profileToProfile(im, src, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: the pixels as they are, as browsers do
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = _eight_bit(im)
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        im.mode in ("P", "L", "RGB") and "transparency" in im.info
    ):
        im = im.convert("RGBA")
        canvas = Image.new("RGB", im.size, background)
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
        turned = _orientation(im) in _SWAPS
        if turned:  # sizes are the upright image's, as the browser shows it
            w, h = h, w
        tw, th = target_size(w, h, cfg)
        if im.format == "JPEG" and (tw, th) != (w, h):
            im.draft(im.mode if im.mode == "CMYK" else "RGB", (th, tw) if turned else (tw, th))
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)  # an animation: its first frame
        im = _rgb(ImageOps.exif_transpose(im), cfg.background)
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
