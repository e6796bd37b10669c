"""Models come from open_clip, by name or from a JSON config; nothing pretrained is loaded.

Shipped configs (train/configs/), sized so `make train` runs on two CPU cores: `openwit-tiny-rn`,
the default (timm's tiny ResNet at 64 px + a 3-layer text transformer), and `openwit-tiny`, a
ViT at 64 px with patch 8 and the same text tower; at this compute only the ResNet learns the
sandbox's shapes (docs/train.md). Any open_clip name (ViT-B-32, RN50, …) or a config file of the
same shape works too.
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch

from openwit.core.clip_model import channels_last, trim_text_padding

__all__ = [
    "channels_last",
    "create",
    "image_side",
    "parameter_count",
    "register",
    "trim_text_padding",
]

CONFIGS = Path(__file__).parent / "configs"


def register(name_or_path: str) -> str:
    """The open_clip model name for `name_or_path`, registering a JSON config if needed."""
    path = Path(name_or_path)
    if path.suffix == ".json":
        if not path.is_file():
            raise FileNotFoundError(f"model config {path} not found")
        json.loads(path.read_text())  # a clear error for a broken file before open_clip's
        open_clip.add_model_config(path)
        return path.stem
    shipped = CONFIGS / f"{name_or_path}.json"
    if shipped.is_file() and name_or_path not in open_clip.list_models():
        open_clip.add_model_config(shipped)
    if name_or_path not in open_clip.list_models():
        raise ValueError(
            f'unknown model {name_or_path!r}: give an open_clip name (`python -c "import '
            'open_clip; print(open_clip.list_models())"`) or a JSON config'
        )
    return name_or_path


def create(name_or_path: str, device: str | torch.device = "cpu"):
    """(model, train transform, eval transform, tokenizer), randomly initialised."""
    name = register(name_or_path)
    model, train_tf, eval_tf = open_clip.create_model_and_transforms(
        name, pretrained=None, device=device, output_dict=True
    )
    trim_text_padding(model)
    return model, train_tf, eval_tf, open_clip.get_tokenizer(name)


def image_side(model: torch.nn.Module) -> int:
    """The side of the square images the model's image tower takes."""
    size = model.visual.image_size
    return int(size[0] if isinstance(size, tuple | list) else size)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
