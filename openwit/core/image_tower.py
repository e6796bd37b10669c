"""A checkpoint's image tower as ONNX, so the pipeline embeds images without torch.

Semantic dedup embeds images in Ray workers. Rebuilding the model there means importing
torch, torchvision, timm and open_clip: about 5 seconds a worker before the first image
(40 with the page cache cold), half as long as each worker's per-image work on the
default sandbox (~9 s: docs/shards.md). ONNX Runtime loads the same tower in a tenth of a
second and runs it faster on CPU (0.30 against 0.47 ms an image on one core, the tiny
ResNet), and a worker that only embeds images needs no torch installed at all.

The trainer writes `step-N.image.onnx` beside the checkpoint it ends with (`export`). The
tower takes (n, S, S, 3) uint8 pixels from `Pixels`, whose settings travel in the file's
metadata, and normalises them in the graph; the file names the checkpoint's SHA-256, so a
tower never stands in for other weights (`OnnxTower.beside` returns None and the caller
rebuilds the model with open_clip).

    python -m openwit.core.image_tower CHECKPOINT…   export checkpoints trained without it
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from openwit.core.io import atomic_output
from openwit.core.pixels import Pixels

SUFFIX = ".image.onnx"


def path_for(checkpoint: str | Path) -> Path:
    return Path(checkpoint).with_suffix(SUFFIX)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def export(model, transform, checkpoint: str | Path) -> Path | None:
    """Write `checkpoint`'s image tower (its weights loaded into a CPU copy of open_clip
    `model`, L2-normalised output, any batch size) beside it; None, writing nothing, when the
    evaluation `transform` is not one `Pixels` reproduces without torchvision."""
    import copy

    import torch

    pixels = Pixels.of(transform)
    if pixels is None:
        return None
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    visual = copy.deepcopy(model.visual).cpu().float().eval()  # the image tower only
    visual.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("visual.")})
    tower = _Tower(visual, pixels).eval()
    x = torch.zeros(2, pixels.side, pixels.side, 3, dtype=torch.uint8)
    batch = torch.export.Dim("batch")
    with torch.no_grad():
        program = torch.onnx.export(
            tower, (x,), dynamic_shapes=({0: batch},), verbose=False, external_data=False
        )
    program.model.metadata_props["openwit.checkpoint_sha256"] = file_sha256(checkpoint)
    program.model.metadata_props["openwit.pixels"] = json.dumps(pixels.to_dict())
    path = path_for(checkpoint)
    with atomic_output(path) as f:
        f.write(program.model_proto.SerializeToString())
    return path


def _Tower(visual, pixels: Pixels):  # noqa: N802 - a torch Module, torch imported only here
    import torch

    class Tower(torch.nn.Module):
        """(n, S, S, 3) uint8 pixels in, unit embeddings out. The normalisation is
        `Pixels.normalise`, in the graph: one pass in ONNX Runtime instead of NumPy's or
        torch's several (0.07 ms an image less), a quarter of the bytes handed over."""

        def __init__(self):
            super().__init__()
            self.visual = visual

        def forward(self, x):
            return torch.nn.functional.normalize(self.visual(pixels.normalise(x)), dim=-1)

    return Tower()


class OnnxTower:
    """An exported image tower in ONNX Runtime: encoded images in, unit embeddings out
    (equal to open_clip's to float rounding: tests/core/test_image_tower.py)."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        t0 = time.perf_counter()
        opts = ort.SessionOptions()
        # As torch does in a worker: the threads Ray (or the user) allotted, else ORT's own.
        opts.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.checkpoint_sha256 = meta.get("openwit.checkpoint_sha256", "")
        self.pixels = Pixels.from_dict(json.loads(meta["openwit.pixels"]))
        first = self.session.get_inputs()[0]
        if first.type != "tensor(uint8)":
            raise ValueError(f"{path}: not an image tower of this OpenWIT (input {first.type})")
        self.input = first.name
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self.load_seconds = time.perf_counter() - t0

    @classmethod
    def beside(cls, checkpoint: str | Path) -> OnnxTower | None:
        """The tower exported from `checkpoint` itself, or None: no file, a tower of other
        weights or of another format, or no ONNX Runtime installed."""
        path = path_for(checkpoint)
        if not path.is_file():
            return None
        try:
            tower = cls(path)
        except (ImportError, ValueError, KeyError):
            return None
        t0 = time.perf_counter()
        same = tower.checkpoint_sha256 == file_sha256(checkpoint)
        tower.load_seconds += time.perf_counter() - t0
        return tower if same else None

    def image_embeddings(self, images: list[bytes], batch_size: int = 64) -> np.ndarray:
        """Unit image embeddings (float32, one row per image)."""
        out = [np.zeros((0, self.dim), np.float32)]
        for i in range(0, len(images), batch_size):
            x = np.stack([self.pixels(data) for data in images[i : i + batch_size]])
            out.append(self.session.run(None, {self.input: x})[0])
        return np.concatenate(out)


def main(argv: list[str] | None = None) -> None:
    import sys

    from openwit.core.clip_model import from_checkpoint

    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        sys.exit("usage: python -m openwit.core.image_tower CHECKPOINT.pt…")
    for checkpoint in paths:
        if not Path(checkpoint).is_file():
            sys.exit(f"no checkpoint at {checkpoint}: give a data/train/*/checkpoints/step-*.pt")
        model, transform, _ = from_checkpoint(checkpoint)
        path = export(model, transform, checkpoint)
        print(path or f"{checkpoint}: its evaluation transform needs torchvision; not exported")


if __name__ == "__main__":
    main()
