"""infra/ checked offline by the tools that consume it: Ray's own config validation (and the
KubeRay operator's translation of a RayCluster), botocore's EC2 API model, our CLI's parser for
every command a spec runs, and real launches of the torchrun script and the Ray Train entry."""

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import typer
import yaml
from ray.autoscaler._private.kuberay.autoscaling_config import (
    _derive_autoscaling_config_from_ray_cr,
)
from ray.autoscaler._private.util import prepare_config, validate_config

from openwit.cli import app

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def parses(command: str) -> None:
    """`openwit …` as our CLI would parse it (options exist, values convert), without running."""
    words = shlex.split(command)
    assert words[0] == "openwit", command
    cmd, name, rest, ctx = typer.main.get_command(app), "openwit", words[1:], None
    while hasattr(cmd, "get_command"):  # `openwit queries build …`: walk the sub-apps
        ctx = cmd.make_context(name, rest[:1], parent=ctx)
        name, rest = rest[0], rest[1:]
        cmd = cmd.get_command(ctx, name)
        assert cmd is not None, f"no command {name!r} in {command!r}"
    cmd.make_context(name, rest, parent=ctx)


def test_parses_catches_bad_commands():
    parses("openwit shards --crawl /x --out s3://b/shards --task-memory 4GiB")
    with pytest.raises(Exception, match="No such option"):
        parses("openwit shards --no-such-flag 1")
    with pytest.raises(Exception, match="valid integer"):
        parses("openwit shards --shard-size many")
    parses("openwit queries build --out /q")
    with pytest.raises(AssertionError, match="no command"):
        parses("openwit queries rebuild")


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_cluster_launcher_configs(cloud):
    raw = yaml.safe_load((INFRA / "ray" / f"{cloud}.yaml").read_text())
    config = prepare_config(raw)
    validate_config(config)  # Ray's JSON schema, as `ray up` checks it
    assert config["provider"]["type"] == cloud
    assert set(config["available_node_types"]) == {"head", "cpu_worker"}
    assert config["docker"]["image"].endswith("openwit:cpu")
    assert any("ray start --head" in c for c in config["head_start_ray_commands"])
    assert config["available_node_types"]["cpu_worker"]["max_workers"] >= 1
    bad = {**raw, "max_workers": "lots"}
    with pytest.raises(Exception, match="lots"):
        validate_config(prepare_config(bad))


def test_aws_node_configs_are_valid_run_instances_calls():
    import botocore.session
    from botocore.validate import ParamValidator

    shape = (
        botocore.session.get_session()
        .get_service_model("ec2")
        .operation_model("RunInstances")
        .input_shape
    )
    raw = yaml.safe_load((INFRA / "ray" / "aws.yaml").read_text())
    for name, node in raw["available_node_types"].items():
        call = {**node["node_config"], "MinCount": 1, "MaxCount": 1}
        report = ParamValidator().validate(call, shape)
        assert not report.has_errors(), f"{name}: {report.generate_report()}"


def _ray_cr(spec: dict, name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_kuberay_raycluster():
    docs = list(yaml.safe_load_all((INFRA / "kuberay" / "raycluster.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"PersistentVolumeClaim", "RayCluster"}
    assert kinds["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteMany"]
    rc = kinds["RayCluster"]
    assert rc["apiVersion"] == "ray.io/v1"
    assert rc["spec"]["rayVersion"] == ray.__version__  # the Ray `make install` puts in the image
    config = _derive_autoscaling_config_from_ray_cr(_ray_cr(rc["spec"], "openwit"))
    validate_config(config)
    worker = config["available_node_types"]["cpu"]
    assert worker["resources"]["CPU"] == 30 and worker["max_workers"] == 64
    assert config["available_node_types"]["headgroup"]["resources"]["CPU"] == 0


def test_kuberay_rayjob_runs_valid_commands():
    job = yaml.safe_load((INFRA / "kuberay" / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]["rayClusterSpec"]
    assert spec["rayVersion"] == ray.__version__
    validate_config(_derive_autoscaling_config_from_ray_cr(_ray_cr(spec, "openwit-corpus")))
    commands = [c.strip() for c in job["spec"]["entrypoint"].split("&&")]
    assert [shlex.split(c)[1] for c in commands] == ["queries", "crawl", "shards"]
    for command in commands:
        parses(command)
    images = re.findall(r"image: (\S+)", (INFRA / "kuberay" / "rayjob.yaml").read_text())
    assert images and all(i.endswith("openwit:cpu") for i in images)


def test_dockerfile_installs_what_make_install_does():
    text = (INFRA / "docker" / "Dockerfile").read_text()
    runs = " ".join(re.findall(r"^RUN (.+?)(?<!\\)$", text, re.M | re.S))
    assert "make install" in runs and "pip install" not in runs  # no second recipe to drift
    assert re.search(r"^COPY \. \.$", text, re.M) and "ARG BASE=python:3.11" in text
    dry = subprocess.run(
        ["make", "-n", "-B", "install", "TORCH_INDEX=https://example.invalid/whl/cpu"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "--index-url https://example.invalid/whl/cpu" in dry and "torch==2.14.1" in dry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_script_two_nodes(sharded, tmp_path):
    """The launch script on two 'nodes' (two torchrun agents on loopback, one process each)."""
    shards, _ = sharded
    out = tmp_path / "run"
    env = {**os.environ, "NNODES": "2", "NPROC": "1", "MASTER_ADDR": "127.0.0.1"}
    env |= {"MASTER_PORT": str(_free_port()), "RUN_ID": "test", "PYTHON": sys.executable}
    args = [str(INFRA / "train" / "torchrun.sh"), "--shards", str(shards), "--out", str(out)]
    args += ["--batch-size", "8", "--workers", "1", "--max-steps", "2", "--log-every", "1"]
    args += ["--shuffle-buffer", "20", "--checkpoint-every", "1000", "--precision", "fp32"]
    nodes = [
        subprocess.Popen(
            args,
            env={**env, "NODE_RANK": str(r)},
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for r in range(2)
    ]
    logs = [n.communicate(timeout=600)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], logs
    assert any("2 process(es)" in log for log in logs)
    assert (out / "metrics.jsonl").read_text().count('"loss"') == 2


@pytest.mark.slow
def test_ray_train_entry(sharded, tmp_path):
    shards, _ = sharded
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "openwit.infra.ray_train", "--workers", "2", "--cpus", "2", "--"]
    cmd += ["--shards", str(shards), "--out", str(out), "--batch-size", "8", "--workers", "0"]
    cmd += ["--max-steps", "2", "--log-every", "1", "--shuffle-buffer", "20"]
    cmd += ["--checkpoint-every", "1000", "--precision", "fp32"]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # a local Ray, loopback
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert (out / "metrics.jsonl").read_text().count('"loss"') == 2
