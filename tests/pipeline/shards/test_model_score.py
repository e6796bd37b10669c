"""The pipeline's embedder: open_clip's own numbers, computed the cheap way."""

import io

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from openwit.pipeline.shards.model_score import ModelScorer


@pytest.fixture(scope="module")
def scorer(tiny_checkpoint):
    return ModelScorer(str(tiny_checkpoint))


def test_text_embeddings_are_open_clips_in_the_callers_order(scorer):
    texts = ["", "a cat", "a photo of a red fox in the snow " * 3, "x " * 120, "a dog", "日本の猫"]
    texts += [f"caption number {i} " * (i % 7) for i in range(300)]  # more than one batch
    ours = scorer.text_embeddings(texts, batch_size=64)
    with torch.inference_mode():  # the untrimmed text tower, all 77 positions, input order
        full = open_clip.CLIP.encode_text(scorer.model, scorer.tokenizer(texts))
    full = torch.nn.functional.normalize(full, dim=-1).numpy()
    assert ours.shape == (len(texts), scorer.dim)
    assert np.allclose(ours, full, atol=1e-5)
    assert scorer.text_embeddings([]).shape == (0, scorer.dim)


def test_image_embeddings_are_the_eval_transforms(scorer):
    assert scorer.pixels is not None  # open_clip's transform is done the cheap way
    rng = np.random.default_rng(0)
    pngs = []
    for w, h in [(300, 200), (64, 64), (90, 250)]:
        out = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(out, "PNG")
        pngs.append(out.getvalue())
    ours = scorer.image_embeddings(pngs)
    x = torch.stack([scorer.transform(Image.open(io.BytesIO(p))) for p in pngs])
    with torch.inference_mode():
        theirs = torch.nn.functional.normalize(scorer.model.encode_image(x), dim=-1).numpy()
    assert np.allclose(ours, theirs, atol=1e-5)
    scores, emb = scorer.scores_and_embeddings(pngs, ["a", "b b", "c c c"])
    assert np.array_equal(emb, ours)
    assert np.allclose(scores, (ours * scorer.text_embeddings(["a", "b b", "c c c"])).sum(-1))
