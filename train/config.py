"""A training run's settings: one schema, one set of defaults, one validation.

`openwit train`, `python -m openwit.train.trainer`, `infra/train/torchrun.sh` and
`python -m openwit.infra.ray_train` all build their run from this module, so they train with
the same defaults and refuse the same bad arguments (exit 2, one line). Importing it costs no
torch, so the command line stays fast.

    python -m openwit.train.config ARGS…   check a trainer's arguments; exit 2 on a bad one
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import MISSING, dataclass, field, fields

LOSSES = ("clip", "siglip")
CROPS = ("square", "resized")  # CLIP's random square crop; open_clip's RandomResizedCrop
PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 autocast on CUDA, fp32 on CPU


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class DataConfig:
    shards: str = "data/shards"
    batch_size: int = 128  # per rank, per micro-batch
    workers: int = field(default_factory=default_workers)
    shuffle_buffer: int = 1000
    seed: int = 0
    decode_size: int | None = None  # decode JPEGs at no less than this side (PIL draft)


@dataclass
class TrainConfig:
    shards: str = "data/shards"
    out: str = "data/train/default"
    model: str = "openwit-tiny-rn"
    data: DataConfig = field(default_factory=DataConfig)
    epochs: int = 9
    train_samples: int | None = None  # per epoch; default: the count in sizes.json
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup: int = 40  # steps
    grad_clip: float = 1.0
    accum: int = 1
    loss: str = "clip"
    crop: str = "square"
    flip: bool = False  # a random left-right mirror after the crop
    hard_negatives: bool = False  # NegCLIP: each caption with one word swapped (clip loss)
    local_loss: bool = False
    precision: str = "auto"
    grad_checkpointing: bool = False
    compile: bool = False
    checkpoint_every: int = 100  # steps; and at every epoch end
    log_every: int = 10
    eval_dir: str | None = None
    zero_shot_only: bool = False  # evaluate without linear and few-shot probes (ablations)
    contamination: str | None = None  # the shards' contamination.parquet
    seed: int = 0
    resume: str | None = None  # "latest" or a checkpoint path
    max_steps: int | None = None  # stop early (tests, benchmarks)
    no_onnx: bool = False  # skip the image tower ONNX beside the last checkpoint (core/image_tower)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"--loss {self.loss!r}: use {' or '.join(LOSSES)}")
        if self.hard_negatives and self.loss != "clip":
            raise ValueError("--hard-negatives adds softmax columns: use it with --loss clip")
        if self.crop not in CROPS:
            raise ValueError(f"--crop {self.crop!r}: use square (CLIP's) or resized (open_clip's)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision {self.precision!r}: use {', '.join(PRECISIONS)}")
        for name in ("epochs", "accum", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)}: give >= 1")
        if self.data.batch_size < 1:
            raise ValueError(f"--batch-size {self.data.batch_size}: give >= 1")
        if self.lr <= 0:
            raise ValueError(f"--lr {self.lr}: give a positive learning rate")


_DATA_FLAGS = ("batch_size", "workers", "shuffle_buffer")  # DataConfig's, on the command line
_OPTIONAL_INT = ("train_samples", "max_steps")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def _default(f) -> object:
    return f.default_factory() if f.default is MISSING else f.default


def _parser(prog: str, doc: str | None) -> _Parser:
    ap = _Parser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(TrainConfig):
        if f.name == "data":
            continue
        default, flag = _default(f), "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            ap.add_argument(flag, action="store_true")
        else:
            kind = (
                type(default) if default is not None else (int if f.name in _OPTIONAL_INT else str)
            )
            ap.add_argument(flag, type=kind, default=default)
    data = {f.name: f for f in fields(DataConfig)}
    for name in _DATA_FLAGS:
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=_default(data[name]))
    return ap


def parse(
    argv: list[str] | None = None,
    prog: str = "python -m openwit.train.trainer",
    doc: str | None = None,
) -> TrainConfig:
    """The run a trainer command line asks for (`doc`: its --help text); a bad argument exits
    2 with one line."""
    ap = _parser(prog, doc)
    a = vars(ap.parse_args(argv))
    data = DataConfig(shards=a["shards"], seed=a["seed"], **{k: a.pop(k) for k in _DATA_FLAGS})
    try:
        return TrainConfig(**a, data=data)
    except ValueError as e:
        ap.error(str(e))


def to_argv(cfg: TrainConfig) -> list[str]:
    """The trainer command line that `parse` turns back into `cfg`."""
    argv: list[str] = []
    values = {f.name: getattr(cfg, f.name) for f in fields(TrainConfig) if f.name != "data"}
    values |= {k: getattr(cfg.data, k) for k in _DATA_FLAGS}
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    return argv


if __name__ == "__main__":
    parse(sys.argv[1:], prog="openwit.train")
