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
    curves = accuracy_curves(
        tower, width, n_classes, train, {"test": test}, epochs, class_weight, flip
    )
    return curves["test"]


def accuracy_curves(
    tower: torch.nn.Module,
    width: int,
    n_classes: int,
    train: tuple[torch.Tensor, torch.Tensor],
    tests: dict[str, tuple[torch.Tensor, torch.Tensor]],
    epochs: int,
    class_weight: torch.Tensor | None = None,
    flip: bool = False,
) -> dict[str, list[float]]:
    """`accuracy_curve` scored on several test sets after each epoch."""
    x, y = train
    head = torch.nn.Linear(width, n_classes)
    opt = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=1e-3)
    curves: dict[str, list[float]] = {name: [] for name in tests}
    for epoch in range(epochs):
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
            for name, (x_test, y_test) in tests.items():
                hits = (head(tower(x_test)).argmax(1) == y_test).float().mean().item()
                curves[name].append(round(hits, 3))
        print(
            f"epoch {epoch + 1}: " + ", ".join(f"{k} {v[-1]}" for k, v in curves.items()),
            flush=True,
        )
    return curves
