"""The trainer under Ray Train: one TorchTrainer worker per process, same arguments as
`python -m openwit.train.trainer`. Ray Train sets up torch.distributed (gloo on CPU, NCCL on
GPU) and the trainer uses the process group it finds.

    python -m openwit.infra.ray_train --workers 8 --gpu -- \
        --shards s3://bucket/shards --out /shared/run
"""

from __future__ import annotations

import argparse
from pathlib import Path

PROG = "python -m openwit.infra.ray_train"


def trainer_config(trainer_args: list[str]):
    """The run each worker trains: the trainer's own arguments, resuming the latest checkpoint
    as torchrun.sh does (a worker Ray Train restarts continues where the run stopped)."""
    from openwit.train.config import parse

    return parse(["--resume", "latest", *trainer_args], prog=PROG)


def _loop(config: dict) -> None:
    from openwit.train.trainer import train

    train(trainer_config(config["argv"]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--address", default=None, help="Ray cluster (default: start a local one)")
    ap.add_argument("--cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    ap.add_argument("trainer_args", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    trainer_args = [a for a in args.trainer_args if a != "--"]

    # The trainer's arguments are checked before any Ray starts: exit 2 and one line.
    out = Path(trainer_config(trainer_args).out).resolve()
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ray.init(address=args.address or "local", num_cpus=None if args.address else args.cpus)
    TorchTrainer(
        _loop,
        train_loop_config={"argv": trainer_args},
        scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=args.gpu),
        # Ray's own run records beside the trainer's (which keeps its checkpoints itself).
        run_config=RunConfig(name="ray", storage_path=str(out)),
    ).fit()


if __name__ == "__main__":
    main()
