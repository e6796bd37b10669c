"""Every shipped model config builds from scratch and trains: finite gradients everywhere."""

import open_clip
import pytest
import torch

from openwit.train import model as models

SHIPPED = sorted(p.stem for p in models.CONFIGS.glob("*.json"))


def test_the_alternatives_ship():
    assert {"openwit-tiny", "openwit-tiny-rn"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_builds_and_trains(name):
    torch.manual_seed(0)
    model, _, _, tok = models.create(name)
    width = open_clip.get_model_config(name)["embed_dim"]
    side = models.image_side(model)
    images = torch.randn(4, 3, side, side)
    texts = tok(["a red star", "two blue circles", "a drawing of a cat", "a map"])
    out = model(images, texts)
    img, txt = out["image_features"], out["text_features"]
    assert img.shape == txt.shape == (4, width)
    assert torch.allclose(img.norm(dim=-1), torch.ones(4), atol=1e-5)
    (out["logit_scale"] * img @ txt.T).logsumexp(1).mean().backward()
    for tower in (model.visual, model.transformer):
        grads = [p.grad for p in tower.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert all(g.abs().sum() > 0 for g in grads[-4:])  # the output end learns


def test_trimmed_text_padding_gives_open_clips_features_and_gradients():
    torch.manual_seed(0)
    model, _, _, tok = models.create("openwit-tiny")
    assert model.encode_text.__func__ is not open_clip.CLIP.encode_text  # trimmed
    texts = tok(["a red star", "two small striped blue circles on a grey background", "map"])
    trimmed = model.encode_text(texts)
    trimmed.square().sum().backward()
    got = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    full = open_clip.CLIP.encode_text(model, texts)  # open_clip's own, over all 77 positions
    full.square().sum().backward()
    want = [p.grad for p in model.parameters() if p.grad is not None]
    assert torch.allclose(trimmed, full, atol=1e-5)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):  # equal up to float rounding (1e-5 relative)
        assert (g - w).abs().max() <= 1e-5 * w.abs().max()


def test_channels_last_changes_layout_not_results():
    torch.manual_seed(0)
    rn, _, _, _ = models.create("openwit-tiny-rn")
    vit, _, _, _ = models.create("openwit-tiny")
    images = torch.randn(6, 3, 64, 64)
    rn.eval()
    with torch.no_grad():
        before = rn.encode_image(images)
    assert models.channels_last(rn) and not models.channels_last(vit)
    convs = [m for m in rn.visual.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert not all(c.weight.is_contiguous() for c in convs if c.kernel_size != (1, 1))
    with torch.no_grad():
        after = rn.encode_image(images)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
