"""Checkpoints hold everything a resumed run needs to continue as if never stopped: model,
optimiser, scaler, step, epoch, position in the epoch and every RNG state. Written atomically
(temporary name, then rename), so a kill never leaves a half checkpoint under a real name."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from openwit.core import image_tower
from openwit.core.io import atomic_output


def rng_states() -> dict:
    states = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(path: Path, state: dict, keep: int = 2) -> None:
    """Write `path`, point latest.txt at it, and keep only the newest `keep` checkpoints."""
    with atomic_output(path) as f:
        torch.save(state, f)
    latest = path.parent / "latest.txt"
    with atomic_output(latest, "w") as f:
        f.write(path.name + "\n")
    for old in sorted(path.parent.glob("step-*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
        image_tower.path_for(old).unlink(missing_ok=True)  # its exported tower, if any


def save_step(folder: Path, model, opt, position: dict, config: dict, meta: dict) -> None:
    """Checkpoint `folder/step-N.pt` with every rank's RNG states (each rank resumes its own
    data order and augmentations); a collective call under DDP, rank 0 writes."""
    rng = [rng_states()]
    if dist.is_initialized() and dist.get_world_size() > 1:
        rng = [None] * dist.get_world_size()
        dist.all_gather_object(rng, rng_states())
    if not dist.is_initialized() or dist.get_rank() == 0:
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), **position}
        save(
            folder / f"step-{position['step']:07d}.pt",
            {**state, "rng": rng, "config": config, **meta},
        )


def latest(folder: Path) -> Path | None:
    marker = folder / "latest.txt"
    if not marker.is_file():
        return None
    path = folder / marker.read_text().strip()
    return path if path.is_file() else None


def mismatch(saved: dict, wanted: dict) -> str | None:
    """How the run a checkpoint belongs to differs from the run asked for, or None. Resuming
    another run (another model, rebuilt shards, another batch) would load the wrong weights
    or walk the wrong data while looking like a continuation."""
    for key, value in wanted.items():
        if key in saved and saved[key] != value:
            return f"it was trained with {key} {saved[key]!r}, this run has {value!r}"
    return None


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)
