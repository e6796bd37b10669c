"""The executor's task resources and the command-line spelling of memory."""

import pytest

from pipeline import executor


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
