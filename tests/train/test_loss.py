"""CLIP's loss across processes and across micro-batches equals one process on the whole batch."""

import os
import socket
from contextlib import nullcontext

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from train import model as models
from train.loss import ClipLoss, SigLipLoss
from train.trainer import micro_step_losses


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


def single_process(images, texts):
    model = fresh_model()
    out = model(images, texts)
    loss = ClipLoss()(out["image_features"], out["text_features"], out["logit_scale"])
    loss.backward()
    return float(loss.detach()), grads(model)


def _worker(rank: int, world: int, port: int, local_loss: bool, path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    images, texts = batch()
    n = len(images) // world
    model = torch.nn.parallel.DistributedDataParallel(fresh_model())  # no device_ids on CPU
    out = model(images[rank * n : (rank + 1) * n], texts[rank * n : (rank + 1) * n])
    loss = ClipLoss(local_loss)(out["image_features"], out["text_features"], out["logit_scale"])
    loss.backward()
    if rank == 0:
        torch.save({"loss": float(loss), "grads": grads(model.module)}, path)
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("local_loss", [False, True])
def test_two_process_gloo_step_equals_one_process(tmp_path, local_loss):
    path = str(tmp_path / "rank0.pt")
    mp.spawn(_worker, args=(2, free_port(), local_loss, path), nprocs=2, join=True)
    got = torch.load(path, weights_only=False)
    loss, want = single_process(*batch())
    if not local_loss:  # the global loss on every rank; local: rank 0's rows only
        assert abs(got["loss"] - loss) <= 1e-5 * abs(loss)
    assert close(got["grads"], want)


def test_accumulated_micro_batches_equal_the_full_batch():
    images, texts = batch()
    loss, want = single_process(images, texts)
    model = fresh_model()
    micro = [(images[:4], texts[:4]), (images[4:], texts[4:])]
    losses = micro_step_losses(model, ClipLoss(), micro, torch.device("cpu"), nullcontext)
    assert all(abs(float(x) - loss) <= 1e-5 * abs(loss) for x in losses)
    assert close(grads(model), want)
