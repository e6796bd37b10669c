"""Session-wide fixtures: one small sandbox build and one server, shared by every test."""

from __future__ import annotations

import pytest

from pipeline.sandbox.build import build
from pipeline.sandbox.config import SandboxConfig
from pipeline.sandbox.server import SandboxServer

SMALL = SandboxConfig(
    seed=7, n_pages=240, eval_per_class=4, eval_clipart_per_class=3, eval_retrieval=20
)


@pytest.fixture(scope="session")
def query_list(tmp_path_factory):
    """The default query list, built once per session (about 10 s)."""
    from queries.build import QueryConfig, build, write

    ql = build(QueryConfig())
    return ql, write(ql, tmp_path_factory.mktemp("queries"), QueryConfig())


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole session (starting one costs seconds)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
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
