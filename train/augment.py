"""open_clip's training transform, done the cheap way in the data workers.

open_clip trains on RandomResizedCrop -> RGB -> ToTensor -> Normalize. Per sample we crop and
resize with PIL straight to uint8, seeded by a NumPy generator per sample (seeding
torch's global RNG per sample costs more than the resize); the float conversion and the
normalisation run once per batch. Any other transform pipeline is used as given.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

_PIL = {
    T.InterpolationMode.BICUBIC: Image.BICUBIC,
    T.InterpolationMode.BILINEAR: Image.BILINEAR,
    T.InterpolationMode.NEAREST: Image.NEAREST,
}
_PASSIVE = ("MaybeConvertMode", "MaybeToTensor", "ToTensor", "_convert_to_rgb")


class CropResize:
    def __init__(self, crop: T.RandomResizedCrop, norm: T.Normalize):
        self.h, self.w = crop.size
        self.scale, self.log_ratio = crop.scale, (math.log(crop.ratio[0]), math.log(crop.ratio[1]))
        self.ratio = crop.ratio
        self.resample = _PIL[crop.interpolation]
        self.mean = torch.tensor(norm.mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(norm.std).view(1, 3, 1, 1) * 255

    @classmethod
    def from_transform(cls, tf) -> CropResize | None:
        """The fast path for open_clip's train transform; None for anything else."""
        steps = getattr(tf, "transforms", None)
        if not steps or not isinstance(steps[0], T.RandomResizedCrop):
            return None
        if not isinstance(steps[-1], T.Normalize) or steps[0].interpolation not in _PIL:
            return None
        if any(type(s).__name__ not in _PASSIVE for s in steps[1:-1]):
            return None
        return cls(steps[0], steps[-1])

    def box(self, width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """torchvision's RandomResizedCrop.get_params, on a NumPy generator: (left, top, w, h)."""
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
        return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1)

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float().sub_(self.mean).div_(self.std)
