"""Tasks by name: what ``--task`` selects. Models load once per worker process."""

from __future__ import annotations

from functools import cache

from aepipe.codec.model import load_codec
from aepipe.errors import ModelError
from aepipe.runtime.registry import load_model
from aepipe.tasks.base import Task, TaskOutput
from aepipe.tasks.codec import CompressTask, DecompressTask
from aepipe.tasks.restore import RestoreTask, TilingParams

RESTORATION_TASKS = ("denoise", "unwatermark", "superres")
CODEC_TASKS = ("compress", "decompress")
PLANNED_TASKS = ("anomaly",)
TASKS = ("identity", *RESTORATION_TASKS, *CODEC_TASKS, *PLANNED_TASKS)
DEFAULT_TILING = TilingParams()

__all__ = ["TASKS", "Task", "TaskOutput", "TilingParams", "build_task"]


@cache
def build_task(
    name: str,
    model: str | None = None,
    *,
    noise_level: float | None = None,
    scale: int | None = None,
    tiling: TilingParams = DEFAULT_TILING,
    threads: int = 0,
    rate: int | None = None,
    anchors: bool = True,
) -> Task:
    """The task ``--task name`` runs; cached so every chunk in a worker shares one session."""
    if name == "identity":
        return RestoreTask("identity", None, "identity", tiling)
    if name in RESTORATION_TASKS:
        session, sha256 = load_model(model, name, scale=scale, threads=threads)
        return RestoreTask(name, session, sha256, tiling, noise_level=noise_level)
    if tiling.self_ensemble and name in CODEC_TASKS:
        raise ModelError(f"self-ensemble averages restoration models; {name!r} has none to average")
    if name == "compress":
        codec = load_codec(model, threads=threads)
        chosen = len(codec.rates) // 2 if rate is None else rate
        codec.rate_point(chosen)  # an unknown --rate fails the run before any work
        return CompressTask(codec, chosen, anchors)
    if name == "decompress":
        return DecompressTask(model, threads)
    if name in PLANNED_TASKS:
        raise ModelError(f"task {name!r} is not available yet in this version of aepipe")
    raise ModelError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
