"""The training crop, done the cheap way in the data workers.

Two crops: CLIP's ("a random square crop from resized images was the only data augmentation",
Radford et al. 2021, §2.5), the default, and open_clip's RandomResizedCrop (90-100 % of the
area at aspect 3:4 to 4:3, squeezed into the square input), `--crop resized`. The second
stretches a 4:3 photo by up to a third, so a circle trains as an ellipse while evaluation's
resize + centre crop shows it round (docs/train.md measures what that costs on shapes).

Per sample we crop and resize with PIL straight to uint8, seeded by a NumPy generator per
sample (seeding torch's global RNG per sample costs more than the resize); the float
conversion and the normalisation run once per batch. Any other transform pipeline is used as given.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

_PIL = {
    T.InterpolationMode.BICUBIC: Image.BICUBIC,
    T.InterpolationMode.BILINEAR: Image.BILINEAR,
    T.InterpolationMode.NEAREST: Image.NEAREST,
}
_PASSIVE = ("MaybeConvertMode", "MaybeToTensor", "ToTensor", "_convert_to_rgb")


class RandomSquareCrop(torch.nn.Module):
    """A random square of the image's short side, resized to `size`: CLIP's training crop."""

    def __init__(self, size: int, interpolation=T.InterpolationMode.BICUBIC):
        super().__init__()
        self.size, self.interpolation = (size, size), interpolation

    def forward(self, im: Image.Image) -> Image.Image:
        side = min(im.width, im.height)
        left = int(torch.randint(0, im.width - side + 1, ()))
        top = int(torch.randint(0, im.height - side + 1, ()))
        return F.resized_crop(im, top, left, side, side, list(self.size), self.interpolation)


def square_crop(train_tf: T.Compose) -> T.Compose:
    """open_clip's train transform with its RandomResizedCrop replaced by CLIP's square crop."""
    first, *rest = train_tf.transforms
    if not isinstance(first, T.RandomResizedCrop):
        return train_tf
    return T.Compose([RandomSquareCrop(first.size[0], first.interpolation), *rest])


def with_flip(train_tf: T.Compose) -> T.Compose:
    """A random left-right mirror after the crop."""
    first, *rest = train_tf.transforms
    return T.Compose([first, T.RandomHorizontalFlip(), *rest])


class CropResize:
    def __init__(
        self, crop: T.RandomResizedCrop | RandomSquareCrop, norm: T.Normalize, flip: float = 0.0
    ):
        self.h, self.w = crop.size
        self.flip = flip  # probability of a mirror
        self.square = isinstance(crop, RandomSquareCrop)
        if not self.square:
            self.scale, self.ratio = crop.scale, crop.ratio
            self.log_ratio = (math.log(crop.ratio[0]), math.log(crop.ratio[1]))
        self.resample = _PIL[crop.interpolation]
        self.mean = torch.tensor(norm.mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(norm.std).view(1, 3, 1, 1) * 255

    @classmethod
    def from_transform(cls, tf) -> CropResize | None:
        """The fast path for a crop (open_clip's or the square), an optional mirror, then
        open_clip's passive steps and Normalize; None for anything else."""
        steps = getattr(tf, "transforms", None)
        if not steps or not isinstance(steps[0], T.RandomResizedCrop | RandomSquareCrop):
            return None
        if not isinstance(steps[-1], T.Normalize) or steps[0].interpolation not in _PIL:
            return None
        flip = steps[1].p if isinstance(steps[1], T.RandomHorizontalFlip) else 0.0
        if any(type(s).__name__ not in _PASSIVE for s in steps[1 + bool(flip) : -1]):
            return None
        return cls(steps[0], steps[-1], flip)

    def box(self, width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """The crop box, (left, top, w, h): torchvision's RandomResizedCrop.get_params, or the
        random square, on a NumPy generator."""
        if self.square:
            side = min(width, height)
            left, top = rng.integers(0, width - side + 1), rng.integers(0, height - side + 1)
            return int(left), int(top), side, side
        area = width * height
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*self.log_ratio))
            w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                left, top = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
                return int(left), int(top), w, h
        ratio = width / height
        if ratio < self.ratio[0]:
            w, h = width, round(width / self.ratio[0])
        elif ratio > self.ratio[1]:
            w, h = round(height * self.ratio[1]), height
        else:
            w, h = width, height
        return (width - w) // 2, (height - h) // 2, w, h

    def __call__(self, im: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        """A uint8 CHW tensor of the model's input size."""
        left, top, w, h = self.box(im.width, im.height, rng)
        # Crop first, as torchvision does: a resize box would filter in pixels past its edge.
        out = im.crop((left, top, left + w, top + h)).resize((self.w, self.h), self.resample)
        if self.flip and rng.random() < self.flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1)

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float().sub_(self.mean).div_(self.std)
