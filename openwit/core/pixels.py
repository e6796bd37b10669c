"""A model's evaluation input from encoded image bytes, the cheap way.

open_clip's evaluation transform is resize (short side to S), centre crop S×S, to tensor,
normalise. Run per image through torchvision it costs more than the tiny towers' forward
pass, so the pipeline's embedders (the scan's model score, semantic dedup, the explorer's
index, an exported ONNX tower: image_tower.py) do the same steps here:
  - a JPEG is decoded by DCT scaling (PIL's draft) to no less than 2S a side, as the
    trainer decodes (train.DataConfig.decode_size): a 256-pixel crawl image decodes at 128
    for a 64-pixel tower. Decoding straight to S would save 0.17 ms an image more, but
    moves a quarter of the embeddings by more than 0.01 in cosine; at 2S the pairs above
    0.99 cosine are the same ones as from a full decode on a sandbox sample (docs/shards.md);
  - converted to RGB first, as the trainer and the evaluator hand images to the transform
    (open_clip's own order would resize a palette image by nearest neighbour);
  - resize and crop in PIL, straight to uint8, the same arithmetic as torchvision's;
  - float conversion and normalisation once per batch, in the channels-last layout that
    NumPy's (H, W, 3) arrays already have.
A transform of any other shape is run as given (`Pixels.of` returns None).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

_PIL = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}
_PASSIVE = ("MaybeConvertMode", "MaybeToTensor", "ToTensor", "_convert_to_rgb")


@dataclass(frozen=True)
class Pixels:
    side: int  # the square input's side
    resample: int  # PIL's filter for the resize
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def of(cls, transform) -> Pixels | None:
        """The steps of a torchvision Compose of Resize(int), CenterCrop(S), to-tensor and
        Normalize, or None for any other transform."""
        steps = [t for t in getattr(transform, "transforms", []) if _name(t) not in _PASSIVE]
        if [_name(t) for t in steps] != ["Resize", "CenterCrop", "Normalize"]:
            return None
        resize, crop, norm = steps
        size, interp = resize.size, getattr(resize.interpolation, "value", None)
        size = size[0] if isinstance(size, list | tuple) and len(size) == 1 else size
        if not isinstance(size, int) or resize.max_size is not None or interp not in _PIL:
            return None
        if tuple(crop.size) != (size, size):
            return None
        return cls(size, _PIL[interp], tuple(norm.mean), tuple(norm.std))

    def __call__(self, data: bytes) -> np.ndarray:
        """(S, S, 3) uint8 of one encoded image."""
        # No `with`: the bytes are in memory, nothing to close, and an RGB image is resized
        # as decoded (convert() would copy it: a tenth of the decode).
        im = Image.open(io.BytesIO(data))
        im.draft("RGB", (2 * self.side, 2 * self.side))  # JPEG only; others in full
        if im.mode != "RGB":
            im = im.convert("RGB")
        w, h = im.size
        s = self.side
        if min(w, h) != s:  # torchvision's Resize(int): the long side truncated, not rounded
            im = im.resize((s, int(s * h / w)) if w <= h else (int(s * w / h), s), self.resample)
            w, h = im.size
        left, top = int(round((w - s) / 2.0)), int(round((h - s) / 2.0))
        return np.asarray(im.crop((left, top, left + s, top + s)))

    def to_dict(self) -> dict:
        return {"side": self.side, "resample": self.resample, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: dict) -> Pixels:
        return cls(int(d["side"]), int(d["resample"]), tuple(d["mean"]), tuple(d["std"]))

    def batch(self, arrays: list[np.ndarray]):
        """(n, 3, S, S) float32 in channels-last memory, normalised."""
        import torch

        return self.normalise(torch.from_numpy(np.stack(arrays)))

    def normalise(self, x):
        """(n, S, S, 3) uint8 tensor -> (n, 3, S, S) float32 (channels-last memory), as
        ToTensor and Normalize compute it; also the first step of an exported tower's graph."""
        import torch

        x = x.permute(0, 3, 1, 2).float().div_(255)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        return x.sub_(mean).div_(torch.tensor(self.std).view(1, 3, 1, 1))


def _name(t) -> str:
    return getattr(t, "__name__", None) or type(t).__name__
