"""Models come from open_clip, by name or from a JSON config; nothing pretrained is loaded.

Shipped configs (train/configs/), sized so `make train` runs on two CPU cores: `openwit-tiny-rn`,
the default (timm's tiny ResNet at 64 px + a 3-layer text transformer), and `openwit-tiny`, a
ViT at 64 px with patch 8 and the same text tower; at this compute only the ResNet learns the
sandbox's shapes (docs/train.md). Any open_clip name (ViT-B-32, RN50, …) or a config file of the
same shape works too.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import open_clip
import torch
from open_clip.transformer import text_global_pool

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


def trim_text_padding(model: torch.nn.Module) -> bool:
    """Make `model.encode_text` skip the padding after the batch's longest caption.

    Captions are padded to the context length (77) but a web alt text is ~15 tokens. Under the
    causal mask a token sees only earlier ones, and the feature is read at the end-of-text
    token, so the padding after the longest caption cannot change any feature or gradient:
    cutting it off computes the same thing for a fraction of the cost. Applies to
    open_clip's CLIP class with its causal mask and end-of-text (argmax) pooling; any other
    model is left as it is (returns False)."""
    ok = (
        type(model) is open_clip.CLIP
        and getattr(model, "attn_mask", None) is not None
        and model.text_pool_type == "argmax"
    )
    if ok:
        model.encode_text = types.MethodType(_encode_text_trimmed, model)
    return ok


def _encode_text_trimmed(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    # open_clip's CLIP.encode_text, over the first n positions only
    n = int(text.argmax(dim=-1).max()) + 1  # end-of-text is the largest id in every row
    text = text[:, :n]
    cast_dtype = self.transformer.get_cast_dtype()
    x = self.token_embedding(text).to(cast_dtype) + self.positional_embedding[:n].to(cast_dtype)
    x = self.transformer(x, attn_mask=self.attn_mask[:n, :n])
    x = text_global_pool(self.ln_final(x), text, self.text_pool_type)
    if self.text_projection is not None:
        if isinstance(self.text_projection, torch.nn.Linear):
            x = self.text_projection(x)
        else:
            x = x @ self.text_projection
    return torch.nn.functional.normalize(x, dim=-1) if normalize else x


def channels_last(model: torch.nn.Module) -> bool:
    """Lay a convolutional image tower's weights out channels-last; True if it has one.

    oneDNN on CPU (and cuDNN on tensor cores) run convolutions faster in NHWC. A ViT has a
    single convolution, the patch embedding, and gains nothing, so it is left alone. Same
    arithmetic, other memory order: results agree to float rounding."""
    visual = getattr(model, "visual", None)
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in visual.modules()) if visual else 0
    if convs < 2:
        return False
    visual.to(memory_format=torch.channels_last)
    return True


def image_side(model: torch.nn.Module) -> int:
    """The side of the square images the model's image tower takes."""
    size = model.visual.image_size
    return int(size[0] if isinstance(size, tuple | list) else size)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
