"""Where steps run, kept apart from what they do.

A job hands an executor a task function and a list of inputs; the same function runs in this
process (`LocalExecutor`: tests, laptops, debugging) or as Ray tasks (`RayExecutor`: a local
Ray or a cluster). CPUs and retries belong here, never to the step.

Large read-only objects (the query matcher) go through `put` once; a task turns the handle
back into the object with `get_shared`, which caches it per worker process, so a Ray worker
unpickles the 60 MB automaton once, not once per task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm import tqdm

_SHARED: dict[str, Any] = {}


class Shared:
    """A handle to an object put into the executor: picklable, cheap to pass to tasks."""

    def __init__(self, key: str, value: Any = None, ref: Any = None):
        self.key, self.value, self.ref = key, value, ref

    def __getstate__(self) -> dict:
        # Local handles never leave the process; Ray handles travel as their ObjectRef only.
        return {"key": self.key, "value": None, "ref": self.ref}


def get_shared(handle: Shared) -> Any:
    if handle.value is not None:
        return handle.value
    if handle.key not in _SHARED:
        import ray

        _SHARED[handle.key] = ray.get(handle.ref[0])
    return _SHARED[handle.key]


class LocalExecutor:
    name = "local"
    parallelism = 1

    def put(self, key: str, value: Any) -> Shared:
        return Shared(key, value=value)

    def map(
        self, fn: Callable, items: Sequence, desc: str, num_cpus: float = 1
    ) -> Iterator[tuple[int, Any]]:
        """(index, result) pairs, in completion order (here: input order)."""
        for i, item in enumerate(
            tqdm(items, desc=desc, unit="task", leave=True, disable=not items)
        ):
            yield i, fn(item)

    def shutdown(self) -> None:
        pass


class RayExecutor:
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        max_retries: int = 3,
        task_cpus: float = 1,
        task_memory: int | None = None,
    ):
        import ray

        # Per task: CPUs it holds and memory it reserves (bytes), so Ray packs tasks onto
        # nodes by what they need, not only by cores.
        self.max_retries, self.task_cpus, self.task_memory = max_retries, task_cpus, task_memory
        self._owns = not ray.is_initialized()
        if self._owns:
            init_ray(address, num_cpus)

    def put(self, key: str, value: Any) -> Shared:
        import ray

        # Wrapped in a list so Ray passes the ref through instead of resolving it per task.
        return Shared(key, ref=[ray.put(value)])

    def map(
        self, fn: Callable, items: Sequence, desc: str, num_cpus: float | None = None
    ) -> Iterator[tuple[int, Any]]:
        import ray

        # A task whose worker (or node) dies is run again (max_retries); tasks are idempotent:
        # they write under temporary names and rename, and skip output already complete.
        opts = {"max_retries": self.max_retries, "num_cpus": num_cpus or self.task_cpus}
        if self.task_memory:
            opts["memory"] = self.task_memory
        remote = ray.remote(**opts)(fn)
        pending = {remote.remote(item): i for i, item in enumerate(items)}
        with tqdm(total=len(items), desc=desc, unit="task", disable=not items) as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    yield i, ray.get(ref)
                    bar.update(1)

    def shutdown(self) -> None:
        import ray

        if self._owns and ray.is_initialized():
            ray.shutdown()


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join `address` (else $RAY_ADDRESS), or start a Ray of our own on this machine."""
    import ray

    # "local" starts our own even where a dead or unrelated Ray left its address in /tmp/ray,
    # which a plain ray.init() would try to join (and then reject num_cpus).
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address.startswith(("local", "127.")):
        # One machine: keep Ray on loopback instead of the address it would pick from the
        # default route (its own "no multi-node" switch, which is what a local run wants).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(
        address=address,
        num_cpus=(num_cpus or os.cpu_count()) if address == "local" else None,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )


def parse_bytes(text: str | None) -> int | None:
    """'2GB', '512MiB', '1e9' or None."""
    if not text:
        return None
    units = {"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "ki": 2**10, "mi": 2**20, "gi": 2**30}
    t = text.strip().lower().removesuffix("b")
    for suffix in sorted(units, key=len, reverse=True):
        if t.endswith(suffix):
            return int(float(t[: -len(suffix)]) * units[suffix])
    return int(float(t))


def make_executor(
    kind: str = "ray",
    address: str | None = None,
    num_cpus: int | None = None,
    task_cpus: float = 1,
    task_memory: str | None = None,
):
    if kind == "local":
        return LocalExecutor()
    if kind == "ray":
        try:
            memory = parse_bytes(task_memory)
        except ValueError as e:
            raise ValueError(f"--task-memory {task_memory!r}: write e.g. 2GB or 512MiB") from e
        return RayExecutor(address, num_cpus, task_cpus=task_cpus, task_memory=memory)
    raise ValueError(f"unknown executor {kind!r}: use 'ray' or 'local'")
