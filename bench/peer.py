"""open_clip's own trainer as the peer: the command that runs `open_clip_train.main` on our
shards with a model config of ours (the loader test and the trainer benchmark both use it)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

_MAIN = (
    "import sys, open_clip; open_clip.add_model_config(sys.argv[1]); "
    "from open_clip_train.main import main; main(sys.argv[2:])"
)


def command(
    shards: str | Path,
    config: str | Path,
    logs: str | Path,
    batch_size: int,
    samples: int | None = None,
    log_every: int = 1000,
) -> list[str]:
    """fp32 (its fp16 default is ~14x slower on CPU), one worker, no checkpoints; without
    `samples` it reads the epoch size from sizes.json, as users' runs do."""
    n = len(list(Path(shards).glob("[0-9]*.tar")))
    cmd = [
        sys.executable,
        "-c",
        _MAIN,
        str(config),
        "--train-data",
        f"{shards}/{{00000..{n - 1:05d}}}.tar",
        "--dataset-type",
        "webdataset",
        "--model",
        Path(config).stem,
        "--batch-size",
        str(batch_size),
        "--epochs",
        "1",
        "--precision",
        "fp32",
        "--workers",
        "1",
        "--logs",
        str(logs),
        "--name",
        "peer",
        "--report-to",
        "",
        "--save-frequency",
        "0",
        "--log-every-n-steps",
        str(log_every),
    ]
    return cmd + (["--train-num-samples", str(samples)] if samples else [])


def batch_seconds(log: str) -> list[float]:
    """Per-step times from its log lines: `… Batch (t): 0.944, 135.6/s, …`."""
    return [float(m.group(1)) for m in re.finditer(r"Batch \(t\): ([\d.]+)", log)]


def epoch_size(log: str) -> int | None:
    """The sample count of its last `Train Epoch: 0 [n/N (100%)]` line."""
    found = re.findall(r"/(\d+) \(100%\)\]", log)
    return int(found[-1]) if found else None
