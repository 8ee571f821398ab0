"""What ``--task`` does with a decoded image. Task names are in :mod:`.names`; tasks are built
by :func:`aepipe.runtime.tasks.build.build_task`; models load once per worker process."""

from aepipe.runtime.tasks.names import CODEC_TASKS, RESTORATION_TASKS, TaskName

__all__ = ["CODEC_TASKS", "RESTORATION_TASKS", "TaskName"]
