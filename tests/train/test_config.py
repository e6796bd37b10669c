"""One schema for a training run: `openwit train`, torchrun.sh and the Ray Train entry train
with the same defaults and refuse a bad argument with exit 2 and one line."""

import os
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openwit.cli import app
from openwit.infra import ray_train
from openwit.train.config import DataConfig, TrainConfig, parse, to_argv

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = ROOT / "infra" / "train" / "torchrun.sh"
TRAINER = ["-m", "openwit.train.trainer"]


def _trainer_args(cmd: list[str]) -> list[str]:
    i = next(k for k in range(len(cmd)) if cmd[k : k + 2] == TRAINER)
    return cmd[i + 2 :]


def _openwit_train(monkeypatch, tmp_path, *extra) -> TrainConfig:
    """The run `openwit train` would launch (the launch itself is captured, not made)."""
    launched = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env=None: launched.append(cmd) or 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shards").mkdir(exist_ok=True)
    result = CliRunner().invoke(app, ["train", "--shards", "shards", *extra])
    assert result.exit_code == 0, result.output
    return parse(_trainer_args(launched[0]))


def _torchrun(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable}
    return subprocess.run(
        [str(TORCHRUN), *args], env=env, capture_output=True, text=True, timeout=120
    )


def _same_run(cfg: TrainConfig) -> TrainConfig:
    """What differs by design between entry points: where the run lives and what it reads."""
    return replace(
        cfg, shards="", out="", eval_dir=None, contamination=None, data=replace(cfg.data, shards="")
    )


def test_every_entry_point_trains_with_the_same_defaults(monkeypatch, tmp_path):
    cli = _openwit_train(monkeypatch, tmp_path)
    dry = _torchrun("--shards", "s", "--out", "o")
    assert dry.returncode == 0, dry.stderr
    torchrun = parse(_trainer_args(shlex.split(dry.stdout)))
    ray = ray_train.trainer_config(["--shards", "s", "--out", "o"])
    assert _same_run(cli) == _same_run(torchrun) == _same_run(ray)
    assert _same_run(cli) == _same_run(TrainConfig(resume="latest"))  # the schema's defaults
    assert cli.data.batch_size == DataConfig().batch_size and cli.epochs == TrainConfig().epochs


def test_openwit_train_passes_every_option_through(monkeypatch, tmp_path):
    cfg = _openwit_train(
        monkeypatch, tmp_path, "--lr", "0.01", "--loss", "siglip", "--batch-size", "7", "--flip"
    )
    assert (cfg.lr, cfg.loss, cfg.data.batch_size, cfg.flip) == (0.01, "siglip", 7, True)


def test_to_argv_and_parse_round_trip():
    cfg = TrainConfig(lr=3e-4, hard_negatives=True, max_steps=5, data=DataConfig(batch_size=3))
    assert parse(to_argv(cfg)) == cfg


@pytest.mark.parametrize(
    "flag, value", [("--loss", "hinge"), ("--crop", "random"), ("--precision", "fp8")]
)
def test_every_entry_point_refuses_a_bad_argument_in_one_line(flag, value, tmp_path):
    (tmp_path / "shards").mkdir()
    cli = CliRunner().invoke(app, ["train", "--shards", str(tmp_path / "shards"), flag, value])
    torchrun = _torchrun("--shards", "s", flag, value)
    ray = subprocess.run(
        [sys.executable, "-m", "openwit.infra.ray_train", "--", "--shards", "s", flag, value],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    for code, err in ((cli.exit_code, cli.output), (torchrun.returncode, torchrun.stderr),
                      (ray.returncode, ray.stderr)):  # fmt: skip
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and value in err, err
    assert not (tmp_path / "data").exists()
