"""The supervised yardstick the ceiling diagnostics share: an image tower from scratch plus a
linear head, trained with cross-entropy on labelled images, scored on held-out ones each epoch."""

from __future__ import annotations

import torch


def accuracy_curve(
    tower: torch.nn.Module,
    width: int,
    n_classes: int,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    class_weight: torch.Tensor | None = None,
    flip: bool = False,
) -> list[float]:
    """Test top-1 after each epoch (AdamW, lr 1e-3, batches of 64; `flip`: random mirror)."""
    (x, y), (x_test, y_test) = train, test
    head = torch.nn.Linear(width, n_classes)
    opt = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=1e-3)
    curve = []
    for _ in range(epochs):
        tower.train()
        for b in torch.randperm(len(x)).split(64):
            xb = x[b]
            if flip:
                xb = torch.where(torch.rand(len(b), 1, 1, 1) < 0.5, xb, xb.flip(3))
            loss = torch.nn.functional.cross_entropy(head(tower(xb)), y[b], weight=class_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        tower.eval()
        with torch.no_grad():
            curve.append(round((head(tower(x_test)).argmax(1) == y_test).float().mean().item(), 3))
        print(f"epoch {len(curve)}: test accuracy {curve[-1]}", flush=True)
    return curve
