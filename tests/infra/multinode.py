"""Run one pipeline command on a real two-node Ray cluster, and kill the worker node mid-job.

    python tests/infra/multinode.py KILL_WHEN_GLOB KILL_AFTER -- openwit-args…

A head node (1 CPU) and a worker node (2 CPUs), separate raylets and object stores, both on
127.0.0.1 (ray.cluster_utils, the way Ray tests itself). When KILL_AFTER files match
KILL_WHEN_GLOB, the worker node is killed without warning; its tasks must be run again on the
head, and the job must still finish. Prints one JSON line: killed, nodes_alive, files_at_kill.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import threading
import time

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only


def main() -> None:
    pattern, after = sys.argv[1], int(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1 :]

    import ray
    from ray.cluster_utils import Cluster
    from typer.testing import CliRunner

    from openwit.cli import app

    local = {"node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, **local})
    worker = cluster.add_node(num_cpus=2, **local)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    killed = threading.Event()
    at_kill = []

    def kill_when_ready() -> None:
        while len(glob.glob(pattern)) < after:
            time.sleep(0.05)
        at_kill.append(len(glob.glob(pattern)))
        cluster.remove_node(worker, allow_graceful=False)
        killed.set()

    threading.Thread(target=kill_when_ready, daemon=True).start()
    result = CliRunner().invoke(app, [*args, "--ray-address", cluster.address])
    deadline = time.time() + 60  # the head notices a dead node within its health-check period
    while (alive := sum(n["Alive"] for n in ray.nodes())) > 1 and time.time() < deadline:
        time.sleep(0.5)
    ray.shutdown()
    cluster.shutdown()
    if result.exit_code != 0:
        print(result.output, file=sys.stderr)
        raise SystemExit(result.exit_code)
    files_at_kill = at_kill[0] if at_kill else None
    info = {"killed": killed.is_set(), "nodes_alive": alive, "files_at_kill": files_at_kill}
    print(json.dumps(info))


if __name__ == "__main__":
    main()
