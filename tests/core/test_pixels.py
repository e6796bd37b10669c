"""The embedders' input: the same tensor as open_clip's evaluation transform, cheaper."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from openwit.core.pixels import Pixels

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _convert_to_rgb(im: Image.Image) -> Image.Image:  # open_clip's name for this step
    return im.convert("RGB")


def evaluation(side: int, interpolation=T.InterpolationMode.BICUBIC) -> T.Compose:
    """open_clip's evaluation transform, built as open_clip builds it."""
    return T.Compose(
        [
            T.Resize(side, interpolation=interpolation),
            T.CenterCrop(side),
            _convert_to_rgb,
            T.ToTensor(),
            T.Normalize(MEAN, STD),
        ]
    )


def encoded(w: int, h: int, fmt: str, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    # smooth colour ramps plus noise: resampling differences show, JPEG keeps them
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
    arr = np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()


@pytest.mark.parametrize("size", [(300, 200), (200, 300), (64, 64), (65, 130), (640, 64), (40, 50)])
@pytest.mark.parametrize("interp", [T.InterpolationMode.BICUBIC, T.InterpolationMode.BILINEAR])
def test_same_tensor_as_the_transform_for_a_png(size, interp):
    tf = evaluation(64, interp)
    pixels = Pixels.of(tf)
    data = [encoded(*size, "PNG", seed) for seed in range(3)]
    ours = pixels.batch([pixels(d) for d in data])
    theirs = torch.stack([tf(Image.open(io.BytesIO(d))) for d in data])
    assert ours.shape == theirs.shape == (3, 3, 64, 64)
    assert torch.equal(ours, theirs)
    assert ours.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK"])
def test_other_modes_are_converted_to_rgb_first_as_the_evaluator_does(mode):
    tf = evaluation(64)
    pixels = Pixels.of(tf)
    im = Image.open(io.BytesIO(encoded(150, 100, "PNG"))).convert(mode)
    out = io.BytesIO()
    im.save(out, "JPEG" if mode in ("L", "CMYK") else "PNG")
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as src:
        want = tf(src.convert("RGB"))  # train/evaluate.py's call
    # (a JPEG this small is under the 2S draft scale: decoded whole, so equal too)
    assert torch.equal(pixels.batch([pixels(data)])[0], want)


def test_a_jpeg_decodes_at_twice_the_side_and_stays_close():
    pixels = Pixels.of(evaluation(64))
    data = encoded(1024, 768, "JPEG")
    decoded = []
    real_resize = Image.Image.resize

    def spy(im, *a, **k):
        decoded.append(im.size)
        return real_resize(im, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Image.Image, "resize", spy)
        ours = pixels(data)
    assert decoded[0] == (256, 192)  # 1/4 scale: the smallest that keeps >= 128 a side
    full = np.asarray(
        T.CenterCrop(64)(T.Resize(64, T.InterpolationMode.BICUBIC)(Image.open(io.BytesIO(data))))
    )
    assert ours.shape == full.shape == (64, 64, 3)
    assert np.abs(ours.astype(int) - full.astype(int)).mean() < 3  # out of 255


def test_other_transforms_are_run_as_given():
    side = 64
    assert Pixels.of(T.Compose([T.RandomResizedCrop(side), T.ToTensor()])) is None
    squash = T.Compose([T.Resize((side, side)), T.CenterCrop(side), T.Normalize(MEAN, STD)])
    assert Pixels.of(squash) is None
    assert Pixels.of(T.Compose([T.Resize(side), T.CenterCrop(32), T.Normalize(MEAN, STD)])) is None
    assert Pixels.of(T.Compose([T.Resize(side, max_size=100), T.CenterCrop(side)])) is None
    assert Pixels.of(lambda im: im) is None
