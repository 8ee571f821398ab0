"""``build_task``: the task a run's :class:`TaskOptions` describe, with its model loaded.

Tasks are cached per set of task options, so every chunk a worker process runs shares one
task object and one ONNX session (a model loads once per worker, not once per chunk).
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache

from aepipe.errors import ModelError
from aepipe.runtime.codec.learned import load_codec
from aepipe.runtime.model.zoo import load_model
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import Task
from aepipe.runtime.tasks.compress import CompressTask, DecompressTask
from aepipe.runtime.tasks.names import (
    CODEC_TASKS,
    PLANNED_TASKS,
    RESTORATION_TASKS,
    TaskName,
)
from aepipe.runtime.tasks.restore import RestoreTask


def build_task(options: TaskOptions) -> Task:
    """The task ``options`` describe; of a :class:`RunOptions` only the task part counts."""
    own = {f.name: getattr(options, f.name) for f in fields(TaskOptions)}
    return _build(TaskOptions(**own))


@cache
def _build(options: TaskOptions) -> Task:
    name = options.task
    if name is TaskName.IDENTITY:
        return RestoreTask(name, None, "identity", options)
    if name in RESTORATION_TASKS:
        model, sha256 = load_model(
            options.model, name, scale=options.scale, threads=options.threads
        )
        return RestoreTask(name, model, sha256, options)
    if options.self_ensemble and name in CODEC_TASKS:
        raise ModelError(f"self-ensemble averages restoration models; '{name}' has none to average")
    if name is TaskName.COMPRESS:
        codec = load_codec(options.model, threads=options.threads)
        chosen = len(codec.rates) // 2 if options.rate is None else options.rate
        codec.rate_point(chosen)  # an unknown --rate fails the run before any work
        return CompressTask(codec, chosen, options.anchors)
    if name is TaskName.DECOMPRESS:
        return DecompressTask(options.model, options.threads)
    assert name in PLANNED_TASKS, name
    raise ModelError(f"task '{name}' is not available yet in this version of aepipe")
