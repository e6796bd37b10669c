"""CLIP-score filtering (LAION, DataComp) with a model this project trained itself.

Given an OpenWIT checkpoint, each pair's score is the cosine similarity of its image and
caption embeddings; keep pairs above `min_score` (in the scan, per row) or the best
`top_percent` of the crawl (its exact cutoff merged over the scan's parts: quantile.py). The
checkpoint carries open_clip's model config, so the model is rebuilt with open_clip alone: the
pipeline never imports the trainer (data flows one way).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from openwit.core.image_tower import OnnxTower
from openwit.core.pixels import Pixels


@dataclass(frozen=True)
class ModelScoreConfig:
    checkpoint: str | None = None
    min_score: float | None = None
    top_percent: float | None = None
    batch_size: int = 64

    def __post_init__(self) -> None:
        if (self.min_score is not None or self.top_percent is not None) and not self.checkpoint:
            raise ValueError(
                "--min-score and --top-percent need --score-with CHECKPOINT (an OpenWIT checkpoint)"
            )
        if self.checkpoint and not Path(self.checkpoint).is_file():
            raise ValueError(
                f"no checkpoint at {self.checkpoint}; train one with `make train` "
                "(data/train/*/checkpoints)"
            )
        if self.top_percent is not None and not 0 < self.top_percent <= 100:
            raise ValueError(f"--top-percent {self.top_percent}: give a share in (0, 100]")


_LOADED: dict[str, ModelScorer] = {}  # one model per worker process and checkpoint
_TOWERS: dict[str, OnnxTower | None] = {}  # the ONNX image tower beside it, if exported


def load_seconds() -> float:
    """Seconds this process has spent importing and loading models (a one-off per worker:
    semantic dedup reports it apart from the work that grows with the crawl)."""
    towers = [t for t in _TOWERS.values() if t is not None]
    return sum(m.load_seconds for m in [*_LOADED.values(), *towers])


def image_embedder(checkpoint: str) -> OnnxTower | ModelScorer:
    """What embeds images for `checkpoint` in this process: the ONNX tower the trainer
    exported beside it (no torch to import), else the model rebuilt with open_clip. Both
    give unit float32 embeddings from the same pixels (`Pixels`), equal to float rounding."""
    if checkpoint not in _TOWERS:
        _TOWERS[checkpoint] = OnnxTower.beside(checkpoint)
    return _TOWERS[checkpoint] or ModelScorer.cached(checkpoint)


def embedding_column(emb: np.ndarray) -> pa.FixedSizeListArray:
    """(n, dim) float32 embeddings as one Arrow column of fixed-size lists."""
    return pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1), pa.float32()), emb.shape[1])


class ModelScorer:
    @classmethod
    def cached(cls, checkpoint: str) -> ModelScorer:
        """The checkpoint's model, loaded once per process (the scan's score and semantic
        dedup's embedding run in the same Ray workers)."""
        if checkpoint not in _LOADED:
            _LOADED[checkpoint] = cls(checkpoint)
        return _LOADED[checkpoint]

    def __init__(self, checkpoint: str):
        t0 = time.perf_counter()
        import open_clip

        from openwit.core.clip_model import channels_last, from_checkpoint, trim_text_padding

        model, self.transform, name = from_checkpoint(checkpoint)
        self.model = model
        # Same arithmetic, cheaper: NHWC convolutions (~1.7x on CPU) and no text tower work
        # on the padding after a batch's longest caption (~15 tokens of 77).
        self.channels_last = channels_last(model)
        trim_text_padding(model)
        self.tokenizer = open_clip.get_tokenizer(name)
        self.pixels = Pixels.of(self.transform)  # None: run the transform as given
        self.load_seconds = time.perf_counter() - t0

    @property
    def dim(self) -> int:
        return getattr(self.model, "embed_dim", None) or self.model.text_projection.shape[1]

    def image_embeddings(self, images: list[bytes], batch_size: int = 64) -> np.ndarray:
        """Unit image embeddings (float32, one row per image)."""
        import torch

        with torch.inference_mode():
            out = [
                self._images(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
            ]
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([o.float().numpy() for o in out])

    def text_embeddings(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Unit text embeddings (float32, one row per text). Batched shortest first, so each
        batch's padding (trimmed after its longest caption) is as short as it can be."""
        import torch

        tokens = self.tokenizer(texts) if texts else torch.zeros((0, 1), dtype=torch.long)
        order = torch.argsort(tokens.argmax(dim=-1), stable=True)  # end-of-text position
        out = torch.zeros((len(texts), self.dim))
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                at = order[i : i + batch_size]
                out[at] = torch.nn.functional.normalize(self.model.encode_text(tokens[at]), dim=-1)
        return out.numpy()

    def scores(self, images: list[bytes], captions: list[str], batch_size: int = 64) -> np.ndarray:
        """Each pair's image-text cosine."""
        return self.scores_and_embeddings(images, captions, batch_size)[0]

    def scores_and_embeddings(
        self, images: list[bytes], captions: list[str], batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each pair's image-text cosine and its unit image embedding (float32): semantic
        dedup reuses the scan's embeddings instead of embedding again."""
        image = self.image_embeddings(images, batch_size)
        text = self.text_embeddings(captions)
        return (image * text).sum(-1), image

    def _images(self, batch: list[bytes]):
        import torch
        from PIL import Image

        if self.pixels is not None:
            x = self.pixels.batch([self.pixels(data) for data in batch])
        else:
            ims = []
            for data in batch:
                with Image.open(io.BytesIO(data)) as im:
                    ims.append(self.transform(im.convert("RGB")))
            x = torch.stack(ims)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return torch.nn.functional.normalize(self.model.encode_image(x), dim=-1)
