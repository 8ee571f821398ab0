"""Where a run's chunk tasks execute: threads of the flow's process, or a Dask cluster.

Chunks are self-contained (keys and options in, rows out; storage opened and the model
loaded by the process that runs them), so any Prefect task runner can take them. Scale-out
uses prefect-dask's ``DaskTaskRunner``, never a scheduler of aepipe's own: each Dask worker
process builds the task (and loads the model) once, on its first chunk, and keeps it for the
rest (``build_task`` caches per process).
"""

from __future__ import annotations

from typing import Any

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from aepipe.runtime.options import OptionError, RunOptions

#: Two chunk tasks at a time in the flow's own process: one computes while the other waits on
#: storage (the model already uses every core through ONNX Runtime's threads). Measured against
#: one: 1.05-1.20x faster at the same peak memory (docs/benchmarks.md).
THREAD_WORKERS = 2


def chunk_runner(options: RunOptions) -> TaskRunner[PrefectFuture[Any]]:
    """A fresh, unstarted task runner for ``options.runner`` (enter it to start it)."""
    kind, where = options.runner_of()
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=THREAD_WORKERS)  # type: ignore[return-value]
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as missing:
        raise OptionError(
            f"--runner {options.runner}: prefect-dask is not installed (pip install 'aepipe[dask]')"
        ) from missing
    if isinstance(where, str):
        return DaskTaskRunner(address=where)  # type: ignore[return-value]
    return DaskTaskRunner(  # type: ignore[return-value]
        cluster_kwargs={
            "n_workers": where,  # None: Dask's default for this machine
            "threads_per_worker": 1,  # ONNX Runtime parallelises inside each model call
            "processes": True,
            "host": "127.0.0.1",  # a cluster of this machine listens on loopback only
            "dashboard_address": None,
        }
    )
