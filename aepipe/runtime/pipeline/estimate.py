"""What a ``--dry-run`` says before anyone pays for a run: work left, and time on this worker.

Keys, bytes (from HEAD) and keys already done come from the dry run's rows. Megapixels need
the images themselves, so a sample of the planned keys is read and decoded, and the rest is
extrapolated by bytes (exact when the sample is everything). The speed is measured on the
spot: the run's own task (model, provider, threads, tiles) on a crop of a sampled image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from aepipe.errors import AepipeError
from aepipe.images import DecodedImage
from aepipe.runtime.options import ChunkOptions
from aepipe.runtime.reports.collect import Shortlist
from aepipe.runtime.reports.rows import ReportRow, RowStatus
from aepipe.runtime.reports.summary import RunEstimate, SummaryTotals
from aepipe.runtime.tasks.base import Task
from aepipe.storage import Storage

#: Planned images read and decoded to learn megapixels per byte.
SAMPLE_IMAGES = 8
#: Side of the crop the task is timed on: big enough for the model's tiling to show.
TIMING_SIDE = 512


def estimate_run(
    totals: SummaryTotals, shortlist: Shortlist, source: Storage, task: Task, options: ChunkOptions
) -> RunEstimate:
    """The estimate for a dry run's rows (PLANNED: to do, SKIPPED: done), from their totals
    and the first planned rows of the shortlist (the sample that is decoded and timed)."""
    keys_to_do, bytes_to_do = totals.counts[RowStatus.PLANNED.value], totals.bytes_planned
    images = _decoded_sample(shortlist.first("planned")[:SAMPLE_IMAGES], source, task, options)
    megapixels = None
    if images:
        sampled_bytes = sum(row.bytes_in or 0 for row, _ in images)
        sampled_mp = sum(image.info.width * image.info.height for _, image in images) / 1e6
        scale = bytes_to_do / sampled_bytes if sampled_bytes else keys_to_do / len(images)
        megapixels = sampled_mp * scale
    speed = _seconds_per_megapixel(task, images[0][1]) if images else None
    return RunEstimate(
        keys_to_do=keys_to_do,
        keys_done=totals.counts[RowStatus.SKIPPED.value],
        bytes_to_do=bytes_to_do,
        megapixels_to_do=None if megapixels is None else round(megapixels, 3),
        megapixels_sampled=len(images),
        seconds_per_megapixel=None if speed is None else round(speed, 4),
        estimated_seconds=(
            None if megapixels is None or speed is None else round(megapixels * speed, 1)
        ),
    )


def _decoded_sample(
    rows: Sequence[ReportRow], source: Storage, task: Task, options: ChunkOptions
) -> list[tuple[ReportRow, DecodedImage]]:
    """(row, decoded image) for the sampled keys that read and decode; the others are left
    out (the run itself will report them)."""
    found = []
    for row in rows:
        try:
            found.append((row, task.read(source.read(row.key), row.key, options.max_pixels)))
        except AepipeError:
            continue
    return found


def _seconds_per_megapixel(task: Task, image: DecodedImage) -> float:
    """The task on a crop of a real input: one untimed call (sessions allocate on the first
    run), then the best of two timed ones."""
    crop = _crop(image, TIMING_SIDE)
    task.apply(crop)
    best = min(_timed(task, crop) for _ in range(2))
    return best / (crop.info.width * crop.info.height / 1e6)


def _crop(image: DecodedImage, side: int) -> DecodedImage:
    pixels = np.ascontiguousarray(image.pixels[:side, :side])
    alpha = None if image.alpha is None else np.ascontiguousarray(image.alpha[:side, :side])
    height, width = pixels.shape[:2]
    return DecodedImage(pixels, alpha, replace(image.info, width=width, height=height))


def _timed(task: Task, image: DecodedImage) -> float:
    started = time.perf_counter()
    task.apply(image)
    return time.perf_counter() - started
