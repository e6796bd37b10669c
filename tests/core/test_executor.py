"""The executor's task resources and the command-line spelling of memory."""

import pytest

from openwit.core import executor


def test_parse_bytes():
    assert executor.parse_bytes(None) is None
    assert executor.parse_bytes("2GB") == 2_000_000_000
    assert executor.parse_bytes("4GiB") == 4 * 2**30
    assert executor.parse_bytes("512MiB") == 512 * 2**20
    assert executor.parse_bytes("1e9") == 10**9
    with pytest.raises(ValueError):
        executor.parse_bytes("lots")


def test_bad_task_memory_names_the_option():
    with pytest.raises(ValueError, match="--task-memory 'lots'"):
        executor.make_executor("ray", task_memory="lots")


def test_ray_tasks_get_their_resources(ray_cluster):
    ex = executor.RayExecutor(task_cpus=0.5, task_memory=100 * 2**20)

    def resources(_):
        import ray

        return ray.get_runtime_context().get_assigned_resources()

    got = [r for _, r in ex.map(resources, [0, 1], "probe")]
    assert all(r["CPU"] == 0.5 and r["memory"] == 100 * 2**20 for r in got)
    ex.shutdown()  # does not own the session's Ray: leaves it running


def test_a_stale_ray_address_file_does_not_stop_a_run(tmp_path):
    # A Ray that died (a killed job, a crashed node) leaves its address in ray_current_cluster;
    # a plain ray.init() would try to join that dead cluster and reject num_cpus.
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    tmp = tempfile.mkdtemp(prefix="ow", dir="/tmp")  # Ray's socket paths must stay short
    try:
        os.makedirs(f"{tmp}/ray")
        with open(f"{tmp}/ray/ray_current_cluster", "w") as f:
            f.write("127.0.0.1:9")  # nothing listens there
        code = (
            "from openwit.core.executor import RayExecutor\n"
            "def size(x): return abs(x)\n"
            "ex = RayExecutor(num_cpus=1)\n"
            "print(sorted(r for _, r in ex.map(size, [-2, 3], 'probe')))\n"
            "ex.shutdown()\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        run = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=180,
            env={**env, "RAY_TMPDIR": tmp},
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[-2] == "[2, 3]"
