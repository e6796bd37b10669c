"""CLIP's objective and SigLIP's, across processes.

ClipLoss: symmetric cross-entropy over the N×N scaled cosine similarities of the global batch.
Features are all-gathered with gradients (torch.distributed.nn), so every rank's loss is the
global one and, after DDP averages the gradients, they equal a single process's on the whole
batch. With `local_loss` a rank scores only its own rows against all columns: less compute,
the same gradient.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor over ranks, keeping the gradient path to each rank's own part."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    import torch.distributed.nn

    return torch.cat(torch.distributed.nn.all_gather(x), dim=0)


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ClipLoss(torch.nn.Module):
    def __init__(self, local_loss: bool = False):
        super().__init__()
        self.local_loss = local_loss

    def forward(
        self,
        image: torch.Tensor,
        text: torch.Tensor,
        logit_scale: torch.Tensor,
        negatives: torch.Tensor | None = None,
        valid: torch.Tensor | None = None,
    ):
        """`negatives`: features of extra captions (train/negatives.py), one more column each
        in the image→text softmax (NegCLIP); `valid` masks the ones that are not real."""
        rank, _ = rank_and_world()
        all_image, all_text = gather(image), gather(text)
        if self.local_loss:
            logits_i = logit_scale * image @ all_text.T
            logits_t = logit_scale * text @ all_image.T
            labels = torch.arange(len(image), device=image.device) + rank * len(image)
        else:
            logits_i = logit_scale * all_image @ all_text.T
            logits_t = logits_i.T
            labels = torch.arange(len(all_image), device=image.device)
        if negatives is not None:
            all_neg = gather(negatives)
            mask = torch.zeros(len(negatives), device=image.device)
            if valid is not None:
                mask = mask.masked_fill(~valid.to(image.device), float("-inf"))
            extra = logit_scale * (image if self.local_loss else all_image) @ all_neg.T
            logits_i = torch.cat([logits_i, extra + gather(mask)], dim=1)
        return (F.cross_entropy(logits_i, labels) + F.cross_entropy(logits_t, labels)) / 2


class SigLipLoss(torch.nn.Module):
    """Sigmoid loss (Zhai et al., 2023): every pair is its own binary problem, so no softmax
    over the batch; here over the gathered batch, which gives the same gradient as SigLIP's
    ring of exchanges. Needs the model's `logit_bias` (open_clip: init_logit_bias)."""

    def forward(self, image, text, logit_scale, logit_bias):
        all_image, all_text = gather(image), gather(text)
        logits = logit_scale * all_image @ all_text.T + logit_bias
        labels = 2 * torch.eye(len(all_image), device=image.device) - 1
        return -F.logsigmoid(labels * logits).sum() / len(all_image)
