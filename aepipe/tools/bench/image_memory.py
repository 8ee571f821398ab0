"""Peak memory of one large image through the per-image path a run takes, per task.

The image (the bench's synthetic photo, ``megapixels`` of it, as a PNG) is written once to a
temporary folder; each task then runs in a fresh interpreter (peak RSS only grows), which
reports

    loaded_mb   peak RSS once the runtime and the task's model are loaded: the floor
    peak_mb     peak RSS after the image went through ``process_chunk`` (fetch, decode,
                model, encode, write: what a chunk task does for each image)
    seconds     that one image's wall time

beside the decoded image's size, so a peak reads as a number of image copies. Issue 20's
goal: a 64-megapixel denoise under 1.5 GB, that is, memory that does not grow with the image
beyond the image itself, its output and its file.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.pipeline.chunk import process_chunk
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName
from aepipe.storage import open_storage
from aepipe.tools.bench.fresh import peak_mb, run_child
from aepipe.tools.bench.pipeline import synthetic_image

TASKS = (TaskName.IDENTITY, TaskName.DENOISE)
KEY = "large.png"
#: The synthetic photo's noise is σ ≈ 10: the denoiser is told so instead of estimating it.
NOISE_LEVEL = 10.0


def measure(megapixels: float, threads: int) -> list[dict[str, Any]]:
    """One fresh process per task over the same ``megapixels`` image; their figures."""
    side = max(16, round(math.sqrt(megapixels * 1e6)))
    with tempfile.TemporaryDirectory(prefix="aepipe-image-memory-") as folder:
        Image.fromarray(synthetic_image(side, seed=0)).save(Path(folder, KEY), compress_level=1)
        image = {"side": side, "image_mb": round(side * side * 3 / 2**20, 1)}
        return [
            run_child(__name__, [folder, str(task), str(threads)], f"{task} on a large image")
            | image
            for task in TASKS
        ]


def _child(folder: str, task_name: str, threads_text: str) -> None:
    name = TaskName(task_name)
    level = NOISE_LEVEL if name is TaskName.DENOISE else None
    task = build_task(TaskOptions(task=name, threads=int(threads_text), noise_level=level))
    figures: dict[str, Any] = {"task": task_name, "loaded_mb": peak_mb()}
    source, dest = open_storage(folder), open_storage(str(Path(folder, "out", task_name)))
    started = time.perf_counter()
    (row,) = process_chunk([KEY], source, dest, task, ChunkOptions(max_pixels=2**40))
    if row.error:
        raise RuntimeError(row.error)
    figures |= {
        "seconds": round(time.perf_counter() - started, 3),
        "peak_mb": peak_mb(),
    }
    print(json.dumps(figures))
