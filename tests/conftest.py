"""Session-wide fixtures: one small sandbox build and one server, shared by every test."""

from __future__ import annotations

from pathlib import Path

import pytest

from openwit.pipeline.sandbox.build import build
from openwit.pipeline.sandbox.config import SandboxConfig
from openwit.pipeline.sandbox.server import SandboxServer

# Pinned: procedural images only, so the fixture is the same whether or not apt installed
# openclipart (the clip-art tests use the package directly and skip without it).
SMALL = SandboxConfig(
    seed=7,
    n_pages=240,
    eval_per_class=4,
    eval_clipart_per_class=3,
    eval_retrieval=20,
    clipart_share=0.0,
    clipart_dir="/nonexistent/openclipart",
    emoji_share=0.0,  # procedural only: the emoji sandbox has tests of its own
    eval_emoji_classes=0,
    eval_animals_per_class=0,
)


@pytest.fixture(scope="session")
def query_list(tmp_path_factory):
    """The default query list, built once per session (about 10 s)."""
    from openwit.queries.build import QueryConfig, build, write

    ql = build(QueryConfig())
    return ql, write(ql, tmp_path_factory.mktemp("queries"), QueryConfig())


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole session (starting one costs seconds)."""
    import ray

    from openwit.core.executor import init_ray

    init_ray("local", num_cpus=2)  # our own, even if another Ray runs on this machine
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sandbox") / "sandbox"
    build(out, SMALL)
    return out


@pytest.fixture(scope="session")
def sandbox_server(sandbox_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serverlog") / "log.jsonl"
    with SandboxServer(sandbox_dir, slow_seconds=1.5, log_path=log) as info:
        yield info


def crawl_args(sandbox_dir, queries, out) -> list[str]:
    """`openwit crawl` on the small sandbox, sized to finish in seconds."""
    return [
        "crawl",
        "--sandbox",
        str(sandbox_dir),
        "--queries",
        str(queries),
        "--out",
        str(out),
        "--t",
        "20",
        "--shard-size",
        "60",
        "--threads",
        "16",
        # Short responses: the sandbox stalls its planted slow images past the timeout, so
        # each costs its retries times this, not the preset's 5 s.
        "--timeout",
        "1",
    ]


@pytest.fixture(scope="session")
def crawled(sandbox_dir, query_list, ray_cluster, tmp_path_factory):
    """One crawl of the small sandbox, shared by the crawl and shards tests."""
    import json

    from typer.testing import CliRunner

    from openwit.cli import app

    out = tmp_path_factory.mktemp("crawl") / "crawl"
    result = CliRunner().invoke(app, crawl_args(sandbox_dir, query_list[1], out))
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "_summary.json").read_text())


def shards_args(crawl, out) -> list[str]:
    return [
        "shards",
        "--crawl",
        str(crawl),
        "--out",
        str(out),
        "--shard-size",
        "50",
    ]


@pytest.fixture(scope="session")
def sharded(crawled, tmp_path_factory):
    """One shards job over the shared crawl: (folder, summary)."""
    import json

    from typer.testing import CliRunner

    from openwit.cli import app

    out = tmp_path_factory.mktemp("shards") / "shards"
    result = CliRunner().invoke(app, shards_args(crawled[0], out))
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "_summary.json").read_text())


def kill_9_when(cmd: list[str], ready, timeout: float = 300) -> None:
    """Start `cmd` in its own process group, and kill -9 the whole group (workers, servers)
    as soon as `ready()` holds: the crash a resumable job must survive."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + timeout
    while time.time() < deadline and not ready() and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def train_run(shards: Path, run: Path, *args: str) -> Path:
    """Train on `shards` into `run` with the project's trainer (a subprocess); the last
    checkpoint it wrote."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "openwit.train.trainer", "--shards", str(shards)]
    cmd += ["--out", str(run), "--workers", "0", *args]
    train = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert train.returncode == 0, train.stderr[-2000:]
    return sorted((run / "checkpoints").glob("step-*.pt"))[-1]


@pytest.fixture(scope="session")
def tiny_checkpoint(sharded, tmp_path_factory) -> Path:
    """A checkpoint two steps into training on the shards: weights the project wrote."""
    run = tmp_path_factory.mktemp("tiny") / "run"
    args = ["--max-steps", "2", "--batch-size", "16", "--train-samples", "64"]
    return train_run(sharded[0], run, *args, "--checkpoint-every", "1")
