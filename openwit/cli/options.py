"""Options the pipeline commands share: where their Ray tasks run and what each one holds."""

from __future__ import annotations

from typing import Annotated

import typer

Executor = Annotated[str, typer.Option(help="ray or local.")]
RayAddress = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join (default: $RAY_ADDRESS, else a new local Ray)."),
]
TaskCpus = Annotated[float, typer.Option(help="CPUs each Ray task holds.")]
TaskMemory = Annotated[
    str | None, typer.Option(help="Memory each Ray task reserves (2GB, 512MiB…).")
]


def executor_factory(kind: str, address: str | None, task_cpus: float, task_memory: str | None):
    """What a job calls when it has work to do: no Ray starts for a job already complete."""
    from openwit.core.executor import make_executor

    return lambda: make_executor(kind, address, task_cpus=task_cpus, task_memory=task_memory)
