"""The trainer as users run it: killed and resumed it follows the same loss trajectory, and
`openwit train` writes eval.json in the promised shape."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from openwit.cli import app
from openwit.train import trainer
from tests.conftest import kill_9_when


def trainer_cmd(shards, out, *extra):
    return [
        sys.executable,
        "-m",
        "openwit.train.trainer",
        "--shards",
        str(shards),
        "--out",
        str(out),
        "--batch-size",
        "16",
        "--workers",
        "1",
        "--shuffle-buffer",
        "50",
        "--epochs",
        "2",
        "--train-samples",
        "160",
        "--warmup",
        "3",
        "--log-every",
        "1",
        "--checkpoint-every",
        "1",
        "--resume",
        "latest",
        *extra,
    ]


def losses(out) -> dict[int, float]:
    rows = {}
    for line in (out / "metrics.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "loss" in row:
            rows[row["step"]] = row["loss"]
    return rows


@pytest.mark.slow
def test_killed_and_resumed_matches_the_uninterrupted_loss_trajectory(sharded, tmp_path):
    shards = sharded[0]
    ref = subprocess.run(
        trainer_cmd(shards, tmp_path / "ref"), capture_output=True, text=True, timeout=600
    )
    assert ref.returncode == 0, ref.stderr[-3000:]
    want = losses(tmp_path / "ref")
    assert sorted(want) == list(range(1, 21))  # 2 epochs of 10 steps
    out = tmp_path / "killed"
    kill_9_when(
        trainer_cmd(shards, out), lambda: (out / "checkpoints" / "step-0000013.pt").exists()
    )
    assert len(losses(out)) < 20
    again = subprocess.run(trainer_cmd(shards, out), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    got = losses(out)
    assert sorted(got) == sorted(want)
    assert all(abs(got[s] - want[s]) <= 1e-5 * abs(want[s]) for s in want), (got, want)


def test_hard_negatives_add_columns_to_the_first_steps_loss(sharded, tmp_path):
    # Same seed, same first batch, same weights: extra softmax columns can only raise the loss.
    runs = {}
    for name, extra in (("plain", ()), ("hard", ("--hard-negatives",))):
        done = subprocess.run(
            trainer_cmd(sharded[0], tmp_path / name, "--max-steps", "1", *extra),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = losses(tmp_path / name)[1]
    assert runs["hard"] > runs["plain"] + 1e-3
    refused = subprocess.run(
        trainer_cmd(sharded[0], tmp_path / "no", "--hard-negatives", "--loss", "siglip"),
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--loss clip" in refused.stderr


def test_resume_refuses_another_runs_checkpoint(sharded, tmp_path):
    out = tmp_path / "run"
    first = subprocess.run(
        trainer_cmd(sharded[0], out, "--max-steps", "1"), capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr[-3000:]
    kept = (out / "checkpoints" / "step-0000001.pt").read_bytes()
    other = subprocess.run(
        trainer_cmd(sharded[0], out, "--max-steps", "2", "--batch-size", "8"),
        capture_output=True,
        text=True,
    )
    assert other.returncode == 2
    message = other.stderr.strip().splitlines()[-1]
    assert "step-0000001.pt" in message and "contrastive batch 16" in message
    assert "--run NAME" in message
    assert (out / "checkpoints" / "step-0000001.pt").read_bytes() == kept
    assert (out / "checkpoints" / "latest.txt").read_text().strip() == "step-0000001.pt"


def test_openwit_train_writes_eval_json(sharded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs go to ./data/train/<run>
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--shards",
            str(sharded[0]),
            "--run",
            "t",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    ev = json.loads((tmp_path / "data/train/t/eval.json").read_text())
    assert set(ev["zero_shot"]) == {"shapes", "colours"}  # the pinned fixture draws no clip art
    for v in ev["zero_shot"].values():
        assert 0 <= v["top1"] <= v["top5"] <= 1 and 0 < v["chance"] < 1
        assert len(v["confusion"]) == len(v["classes"]) == round(1 / v["chance"])
    shape_classes = ev["zero_shot"]["shapes"]["classes"]
    assert "circle" in shape_classes and shape_classes == sorted(shape_classes)  # folder order
    assert set(ev["retrieval"]["retrieval"]["image_to_text"]) == {"R@1", "R@5", "R@10"}
    assert 0 <= ev["linear_probe"]["shapes"]["top1"] <= 1
    assert ev["overlap"]["shapes"]["n_all"] == ev["zero_shot"]["shapes"]["n"]
    assert "Where the misses go" in (tmp_path / "data/train/t/report.html").read_text()
    assert "zero-shot shapes" in result.output


def test_an_unknown_crop_or_loss_is_one_line_naming_the_choices(tmp_path, capsys):
    for flag, value, choices in (("--crop", "random", "square"), ("--loss", "hinge", "siglip")):
        with pytest.raises(SystemExit) as e:
            trainer.main(["--shards", str(tmp_path), "--out", str(tmp_path / "o"), flag, value])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and value in err and choices in err
    assert not (tmp_path / "o").exists()
