"""CLIP's loss across processes and across micro-batches equals one process on the whole batch."""

import os
import socket
from contextlib import nullcontext

import numpy as np
import open_clip
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from openwit.train import model as models
from openwit.train import negatives
from openwit.train.loss import ClipLoss, SigLipLoss
from openwit.train.trainer import micro_step_losses


def batch(n: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, 64, 64, generator=g)
    words = ["red", "blue", "green", "star", "circle", "heart", "two", "big"]
    _, _, _, tok = models.create("openwit-tiny")
    texts = tok([f"a {words[i % 8]} {words[(3 * i + 1) % 8]} number {i}" for i in range(n)])
    return images, texts


def fresh_model():
    torch.manual_seed(0)
    return models.create("openwit-tiny")[0]


def grads(model) -> dict[str, torch.Tensor]:
    return {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None}


def close(a: dict, b: dict, rel: float = 1e-5) -> bool:
    return a.keys() == b.keys() and all(
        (a[k] - b[k]).norm() <= rel * max(b[k].norm(), 1e-12) + 1e-8 for k in a
    )


def test_matches_open_clip_loss():
    from open_clip.loss import ClipLoss as Reference

    g = torch.Generator().manual_seed(1)
    img = torch.nn.functional.normalize(torch.randn(16, 32, generator=g), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(16, 32, generator=g), dim=-1)
    scale = torch.tensor(14.3)
    assert torch.allclose(ClipLoss()(img, txt, scale), Reference()(img, txt, scale), atol=1e-6)
    from open_clip.loss import SigLipLoss as SigLipReference

    bias = torch.tensor(-10.0)
    want = SigLipReference()(img, txt, scale, bias)
    assert torch.allclose(SigLipLoss()(img, txt, scale, bias), want, atol=1e-5)


def with_negatives(texts):
    """The batch's hard negatives (train/negatives.py); the last is masked, as a caption
    with nothing to swap would be."""
    eot = open_clip.get_tokenizer(models.register("openwit-tiny")).eot_token_id
    neg, valid = negatives.swap_one_word(texts, np.random.default_rng(0), eot)
    assert valid.all()
    valid[-1] = False
    return neg, valid


def clip_loss(model, images, texts, local_loss=False, neg=None, valid=None):
    if neg is None:
        out = model(images, texts)
        return ClipLoss(local_loss)(out["image_features"], out["text_features"], out["logit_scale"])
    out = model(images, torch.cat([texts, neg]))
    txt, n = out["text_features"], len(images)
    return ClipLoss(local_loss)(out["image_features"], txt[:n], out["logit_scale"], txt[n:], valid)


def single_process(images, texts, neg=None, valid=None):
    model = fresh_model()
    loss = clip_loss(model, images, texts, neg=neg, valid=valid)
    loss.backward()
    return float(loss.detach()), grads(model)


def _worker(rank: int, world: int, port: int, local_loss: bool, hard: bool, path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    images, texts = batch()
    neg, valid = with_negatives(texts) if hard else (None, None)
    mine = slice(rank * (len(images) // world), (rank + 1) * (len(images) // world))
    model = torch.nn.parallel.DistributedDataParallel(fresh_model())  # no device_ids on CPU
    loss = clip_loss(
        model,
        images[mine],
        texts[mine],
        local_loss,
        neg[mine] if hard else None,
        valid[mine] if hard else None,
    )
    loss.backward()
    if rank == 0:
        torch.save({"loss": float(loss), "grads": grads(model.module)}, path)
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "local_loss,hard", [(False, False), (True, False), (False, True), (True, True)]
)
def test_two_process_gloo_step_equals_one_process(tmp_path, local_loss, hard):
    path = str(tmp_path / "rank0.pt")
    mp.spawn(_worker, args=(2, free_port(), local_loss, hard, path), nprocs=2, join=True)
    got = torch.load(path, weights_only=False)
    images, texts = batch()
    loss, want = single_process(images, texts, *(with_negatives(texts) if hard else ()))
    if not local_loss:  # the global loss on every rank; local: rank 0's rows only
        assert abs(got["loss"] - loss) <= 1e-5 * abs(loss)
    assert close(got["grads"], want)


@pytest.mark.parametrize("hard", [False, True])
def test_accumulated_micro_batches_equal_the_full_batch(hard):
    images, texts = batch()
    if hard:
        neg, valid = with_negatives(texts)
        loss, want = single_process(images, texts, neg, valid)
        micro = [
            (images[h], torch.cat([texts[h], neg[h]]), valid[h]) for h in (slice(0, 4), slice(4, 8))
        ]
    else:
        loss, want = single_process(images, texts)
        micro = [(images[:4], texts[:4]), (images[4:], texts[4:])]
    model = fresh_model()
    losses = micro_step_losses(model, ClipLoss(), micro, torch.device("cpu"), nullcontext)
    assert all(abs(float(x) - loss) <= 1e-5 * abs(loss) for x in losses)
    assert close(grads(model), want)


def test_negative_columns_only_add_to_the_image_side_and_masked_ones_count_for_nothing():
    g = torch.Generator().manual_seed(2)
    img, txt, neg = (
        torch.nn.functional.normalize(torch.randn(6, 16, generator=g), dim=-1) for _ in range(3)
    )
    scale = torch.tensor(10.0)
    plain = ClipLoss()(img, txt, scale)
    masked = ClipLoss()(img, txt, scale, neg, torch.zeros(6, dtype=torch.bool))
    assert torch.allclose(masked, plain, atol=1e-6)
    # A negative identical to the true caption splits the image's probability with it.
    same = ClipLoss()(img, txt, scale, txt.clone(), torch.ones(6, dtype=torch.bool))
    logits = scale * img @ txt.T
    lse = torch.logsumexp(torch.cat([logits, logits], dim=1), dim=1)
    want_i = (lse - logits.diag()).mean()
    want_t = torch.nn.functional.cross_entropy(logits.T, torch.arange(6))
    assert torch.allclose(same, (want_i + want_t) / 2, atol=1e-5)
