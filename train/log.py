"""A run's record: metrics.jsonl (what any tool reads), TensorBoard, and one console line per
log step. Only rank 0 writes; the other ranks' calls do nothing."""

from __future__ import annotations

import json
from pathlib import Path


class RunLog:
    def __init__(self, out: Path, rank: int):
        self.rank, self.out = rank, out
        self.tb = None
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self.tb = None

    def info(self, text: str) -> None:
        if self.rank == 0:
            print(text, flush=True)

    def metrics(self, row: dict) -> None:
        if self.rank != 0:
            return
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        scalars = {k: v for k, v in row.items() if isinstance(v, int | float)}
        scalars |= {f"zero_shot/{k}": v for k, v in row.get("eval", {}).items()}
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, row["step"])
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
