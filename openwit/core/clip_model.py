"""open_clip models made cheaper to run, with the same arithmetic: shared by the trainer and
the pipeline's embedders (the scan's model score, semantic dedup, `openwit index`), which
must not import the trainer.
"""

from __future__ import annotations

import json
import tempfile
import types
from pathlib import Path

import open_clip
import torch
from open_clip.transformer import text_global_pool


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


def from_checkpoint(checkpoint: str | Path):
    """(model in eval mode, evaluation transform, name) of an OpenWIT checkpoint, rebuilt
    with open_clip alone from the model config the trainer stores in it."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if "model_config" not in state:
        raise ValueError(f"{checkpoint}: not an OpenWIT checkpoint (no model_config)")
    name = state["model_name"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.json"
        path.write_text(json.dumps(state["model_config"]))
        open_clip.add_model_config(path)
    model, _, transform = open_clip.create_model_and_transforms(name, pretrained=None)
    model.load_state_dict(state["model"])
    return model.eval(), transform, name
