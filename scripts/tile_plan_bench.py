"""Whole-image calls against the card's tiles for the shipped denoiser (docs/benchmarks.md,
"Flat memory and the tile plan").

    python scripts/tile_plan_bench.py speed            # three plans interleaved, per size
    python scripts/tile_plan_bench.py memory SIDE TILE BATCH   # one call plan, fresh process

``memory`` prints the growth of peak RSS while one SIDE x SIDE photo is denoised; run it once
per plan (peak RSS only grows within a process).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from aepipe.images import DecodedImage, decode
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import Task
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName
from aepipe.tools.bench.fresh import peak_mb
from aepipe.tools.bench.pipeline import png_bytes, synthetic_image

SIZES = ((321, 481), (512, 512), (512, 768))
PLANS = {"256 x4": (256, 4), "256 x1": (256, 1), "whole": (0, 1)}  # (tile, tiles a call)


def denoiser(tile: int, batch: int) -> Task:
    options = TaskOptions(
        task=TaskName.DENOISE, noise_level=10.0, threads=2, tile=tile, batch_size=batch
    )
    return build_task(options)


def photo(height: int, width: int) -> DecodedImage:
    return decode(png_bytes(synthetic_image(max(height, width), 0)[:height, :width]), "x.png")


def speed(repeats: int = 4) -> None:
    tasks = {label: denoiser(*plan) for label, plan in PLANS.items()}
    for height, width in SIZES:
        image = photo(height, width)
        for task in tasks.values():
            task.apply(image)  # warm-up: this shape's arena
        seconds: dict[str, list[float]] = {label: [] for label in tasks}
        for _ in range(repeats):
            for label, task in tasks.items():
                started = time.perf_counter()
                task.apply(image)
                seconds[label].append(time.perf_counter() - started)
        medians = {label: round(float(np.median(s)), 3) for label, s in seconds.items()}
        print(f"{height}x{width}", medians, flush=True)


def memory(side: int, tile: int, batch: int) -> None:
    image = photo(side, side)
    task = denoiser(tile, batch)
    before, started = peak_mb(), time.perf_counter()
    task.apply(image)
    elapsed = time.perf_counter() - started
    print(f"{side}² tile {tile} x{batch}: RSS growth {peak_mb() - before:.0f} MB, {elapsed:.2f} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["speed"]:
        speed()
    elif sys.argv[1:2] == ["memory"] and len(sys.argv) == 5:
        side, tile, batch = (int(v) for v in sys.argv[2:])
        memory(side, tile, batch)
    else:
        sys.exit(__doc__)
