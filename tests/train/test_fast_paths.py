"""The loader's fast paths give what the slow, standard tools give."""

import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

from openwit.train import model as models
from openwit.train import tar_stream
from openwit.train.augment import CropResize, RandomSquareCrop, square_crop, with_flip
from openwit.train.text import FastTokenizer


@pytest.fixture(scope="module")
def tiny():
    _, train_tf, eval_tf, tok = models.create("openwit-tiny")
    return train_tf, eval_tf, tok


def test_crop_resize_matches_torchvision(tiny):
    train_tf, eval_tf, _ = tiny
    fast = CropResize.from_transform(train_tf)
    assert fast is not None and CropResize.from_transform(eval_tf) is None
    assert CropResize.from_transform(T.Compose([T.RandomResizedCrop(64), T.ColorJitter()])) is None
    rng = np.random.default_rng(0)
    for w, h in [(300, 200), (64, 64), (90, 400), (1000, 120)]:
        im = Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8))
        left, top, cw, ch = fast.box(w, h, np.random.default_rng(w))
        assert left >= 0 and left + cw <= w and top >= 0 and top + ch <= h
        ours = fast.normalize(fast(im, np.random.default_rng(w))[None])[0]
        crop = F.resized_crop(im, top, left, ch, cw, [64, 64], T.InterpolationMode.BICUBIC)
        theirs = train_tf.transforms[-1](F.to_tensor(crop))
        one_level = 1 / 255 / min(train_tf.transforms[-1].std)
        assert ours.shape == theirs.shape == (3, 64, 64)
        assert (ours - theirs).abs().max() <= one_level + 1e-6


def test_crop_box_follows_scale_and_ratio(tiny):
    fast = CropResize.from_transform(tiny[0])
    rng = np.random.default_rng(1)
    for _ in range(200):
        _, _, w, h = fast.box(400, 300, rng)
        assert 0.9 * 0.98 <= w * h / (400 * 300) <= 1.0 and 0.7 <= w / h <= 1.4


def test_square_crop_matches_torchvision(tiny):
    train_tf = square_crop(tiny[0])
    assert isinstance(train_tf.transforms[0], RandomSquareCrop)
    fast = CropResize.from_transform(train_tf)
    assert fast is not None and fast.square
    rng = np.random.default_rng(2)
    for w, h in [(341, 256), (256, 341), (64, 64), (90, 400)]:
        im = Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8))
        left, top, cw, ch = fast.box(w, h, np.random.default_rng(w))
        assert cw == ch == min(w, h) and 0 <= left <= w - cw and 0 <= top <= h - ch
        ours = fast.normalize(fast(im, np.random.default_rng(w))[None])[0]
        crop = F.resized_crop(im, top, left, ch, cw, [64, 64], T.InterpolationMode.BICUBIC)
        theirs = train_tf.transforms[-1](F.to_tensor(crop))
        assert (ours - theirs).abs().max() <= 1 / 255 / min(train_tf.transforms[-1].std) + 1e-6
        torch.manual_seed(0)  # the slow path: the same square, drawn from torch's generator
        slow = train_tf(im)
        torch.manual_seed(0)
        left, top = (int(torch.randint(0, n - cw + 1, ())) for n in (w, h))
        crop = F.resized_crop(im, top, left, cw, cw, [64, 64], T.InterpolationMode.BICUBIC)
        torch.testing.assert_close(slow, train_tf.transforms[-1](F.to_tensor(crop)))


def test_square_crop_keeps_shapes_round(tiny):
    """A 4:3 image of a circle: the square crop keeps it round, open_clip's crop squeezes it."""
    w, h = 400, 300
    yy, xx = np.mgrid[:h, :w]
    disc = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2 < 100**2).astype(np.uint8) * 255
    im = Image.fromarray(np.stack([disc] * 3, -1))

    def aspect(fast, seed):
        mask = fast(im, np.random.default_rng(seed))[0].numpy() > 127
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        return (cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1)

    square = CropResize.from_transform(square_crop(tiny[0]))
    resized = CropResize.from_transform(tiny[0])
    assert all(abs(aspect(square, s) - 1) < 0.05 for s in range(20))
    assert max(abs(aspect(resized, s) - 1) for s in range(20)) > 0.15


def test_flip_mirrors_about_half_and_only_mirrors(tiny):
    fast = CropResize.from_transform(with_flip(square_crop(tiny[0])))
    plain = CropResize.from_transform(square_crop(tiny[0]))
    assert fast is not None and fast.flip == 0.5 and plain.flip == 0
    im = Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 64, 3), np.uint8))
    same = mirrored = 0
    for seed in range(200):
        ours = fast(im, np.random.default_rng(seed))
        base = plain(im, np.random.default_rng(seed))
        same += torch.equal(ours, base)
        mirrored += torch.equal(ours, base.flip(-1))
    assert same + mirrored == 200 and 70 < mirrored < 130


def test_tokens_equal_open_clip(tiny):
    tok = tiny[2]
    fast = FastTokenizer.wrap(tok)
    assert isinstance(fast, FastTokenizer)
    texts = [
        "a photo of a red circle",
        "  Two\tBLUE  squares\non grey ",
        "Fish &amp; chips",  # html entity: the full cleaning path
        "cafÃ© au lait",  # mojibake: ftfy repairs it
        "naïve 東京 emoji 🎉",
        "It's 3 o'clock, isn't it?",
        "word " * 200,  # truncated at the context length
        "",
    ]
    assert torch.equal(fast(texts), tok(texts))
    assert torch.equal(fast(texts[0]), tok(texts[0]))


def _tar(fmt, names):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        tar.addfile(tarfile.TarInfo("somedir/"), None)
        for i, name in enumerate(names):
            info = tarfile.TarInfo(name)
            info.size = 700 + i
            tar.addfile(info, io.BytesIO(bytes([i % 256]) * info.size))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tar_stream_reads_what_tarfile_reads(fmt):
    long = "deep/" * 30 + "key.jpg" if fmt != tarfile.USTAR_FORMAT else "a/" * 60 + "k.jpg"
    names = ["00001.jpg", "00001.txt", long]
    if fmt == tarfile.PAX_FORMAT:
        names.append("ünï/" + "ç" * 120 + ".txt")
    blob = _tar(fmt, names)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        expected = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]
    assert list(tar_stream.members(io.BytesIO(blob))) == expected


def test_tar_stream_rejects_damage():
    blob = _tar(tarfile.GNU_FORMAT, ["a.jpg", "a.txt"])
    with pytest.raises(tar_stream.BadTar, match="truncated"):
        list(tar_stream.members(io.BytesIO(blob[:1100])))
    flipped = bytearray(blob)
    flipped[3] ^= 0xFF  # a byte of the first header's name: its checksum no longer holds
    with pytest.raises(tar_stream.BadTar, match="checksum"):
        list(tar_stream.members(io.BytesIO(bytes(flipped))))
