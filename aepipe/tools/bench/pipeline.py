"""Pipeline throughput on synthetic photo-like images: the model alone, then end to end.

    inference only   decoded images -> task.apply                       (no I/O, no codec)
    local e2e        process_chunk: folder -> folder                    (fsync'd writes)
    S3 e2e           process_chunk: SeaweedFS on loopback -> same server (skip: --skip-s3)
    flow (opt-in)    the whole process_images flow once, Prefect start-up included

The gap between the first row and the others is what I/O and the codecs cost. End-to-end
passes run with ``overwrite`` so every pass redoes every image.
"""

from __future__ import annotations

import io
import os
import statistics
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from aepipe.images import decode, encode
from aepipe.runtime.api import QUIET_SERVER
from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.pipeline import process_chunk
from aepipe.runtime.reports import ReportRow, RowStatus
from aepipe.runtime.reports.summary import STAGES, RunSummary
from aepipe.runtime.tasks.base import Task
from aepipe.storage import Storage, open_storage
from aepipe.tools.bench.timing import (
    BenchError,
    Sample,
    Timing,
    measure,
    megapixels,
    megapixels_of,
)

BUCKET = "bench"
# Settings of the developer's own AWS setup that would override the throwaway server's.
_AWS_OVERRIDES = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
)


def synthetic_image(size: int, seed: int) -> np.ndarray:
    """A photo-like size x size RGB uint8 image, the same for the same ``(size, seed)``.

    Smooth gradients, a low-frequency wave and soft-edged discs, plus σ≈10 noise: flat or
    pure-noise images would make PNG sizes, the blind noise estimate and the denoiser's work
    unlike real photos.
    """
    rng = np.random.default_rng(seed)
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    image = np.empty((size, size, 3), dtype=np.float32)
    for channel in range(3):
        gx, gy, fx, fy, phase = rng.uniform(-0.4, 0.4, 5)
        wave = np.sin(2 * np.pi * (3 * fx * xx + 3 * fy * yy) + 8 * phase)
        image[..., channel] = 0.5 + gx * (xx - 0.5) + gy * (yy - 0.5) + 0.12 * wave
    for _ in range(5):
        cx, cy = rng.uniform(0, 1, 2)
        radius = rng.uniform(0.05, 0.25)
        inside = np.clip((radius - np.hypot(xx - cx, yy - cy)) * size / 4, 0, 1)
        image += inside[..., None] * (rng.uniform(0, 1, 3) - image) * 0.8
    image += rng.normal(0.0, 10 / 255, image.shape).astype(np.float32)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def synthetic_pngs(count: int, size: int) -> dict[str, bytes]:
    """``count`` distinct images as PNG files keyed like a folder of photos."""
    return {f"img-{i:03d}.png": png_bytes(synthetic_image(size, seed=i)) for i in range(count)}


def stage_seconds(rows: Sequence[ReportRow]) -> dict[str, float]:
    """Per-stage seconds summed over the rows (stages overlap in time: fetch/upload threads)."""
    return {stage: sum(getattr(row, f"seconds_{stage}") for row in rows) for stage in STAGES}


def median_stages(passes: Sequence[Mapping[str, float]]) -> dict[str, float]:
    return {stage: statistics.median(p[stage] for p in passes) for stage in STAGES}


def inference_only(
    task: Task, pngs: Mapping[str, bytes], repeats: int, label: str = "inference only"
) -> Timing:
    """``task.apply`` over already decoded images: the ceiling for any end-to-end run."""
    images = [decode(data, key) for key, data in pngs.items()]
    work = sum(megapixels(i.info.width, i.info.height) for i in images)

    def apply_all() -> None:
        for image in images:
            task.apply(image)

    task.apply(images[0])  # warm-up
    samples = [measure(apply_all) for _ in range(repeats)]
    detail = f"{len(images)} decoded images, task.apply only"
    return Timing(label, detail, work, len(images), samples)


#: Labels the codec-on-every-core ratios are read from (issue 20 item 2).
CODEC_CAPACITY = "PNG codec alone"
IN_MEMORY = "decode + infer + encode"
IDENTITY_E2E = "identity local e2e"


def codec_capacity(pngs: Mapping[str, bytes], threads: int, repeats: int) -> Timing:
    """Decode + encode of every PNG in memory on ``threads`` threads: what this machine's
    Pillow can do at most, the ceiling of a run that only moves images (``identity``)."""
    items = list(pngs.items())
    work = megapixels_of(pngs)

    def one(item: tuple[str, bytes]) -> None:
        key, data = item
        image = decode(data, key)
        encode(image.pixels, image.info)

    def all_images() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, items))

    all_images()  # warm-up
    samples = [measure(all_images) for _ in range(repeats)]
    detail = f"decode + encode in memory, {threads} threads"
    return Timing(CODEC_CAPACITY, detail, work, len(items), samples)


def in_memory(task: Task, pngs: Mapping[str, bytes], repeats: int) -> Timing:
    """Decode, ``task.apply``, encode, one image after another in memory: what a plain loop
    around the model gets, the figure a run's pipeline must keep up with."""
    work = megapixels_of(pngs)

    def all_images() -> None:
        for key, data in pngs.items():
            image = decode(data, key)
            encode(task.apply(image).pixels, image.info)

    key, data = next(iter(pngs.items()))
    task.apply(decode(data, key))  # warm-up
    samples = [measure(all_images) for _ in range(repeats)]
    return Timing(IN_MEMORY, "in memory, one image at a time", work, len(pngs), samples)


def end_to_end(
    label: str, source: Storage, dest: Storage, task: Task, work: float, repeats: int
) -> Timing:
    """``process_chunk`` over every key of ``source``, ``repeats`` times after a warm-up image."""
    keys = list(source.list())
    settings = ChunkOptions(overwrite=True)
    process_chunk(keys[:1], source, dest, task, settings)  # warm-up: connections, arenas
    samples: list[Sample] = []
    passes: list[dict[str, float]] = []
    for _ in range(repeats):
        sample, rows = _chunk_pass(keys, source, dest, task, settings)
        samples.append(sample)
        passes.append(stage_seconds(rows))
    detail = f"process_chunk {source.uri} -> {dest.uri}"
    return Timing(label, detail, work, len(keys), samples, median_stages(passes))


def _chunk_pass(
    keys: list[str], source: Storage, dest: Storage, task: Task, settings: ChunkOptions
) -> tuple[Sample, list[ReportRow]]:
    rows: list[ReportRow] = []
    sample = measure(lambda: rows.extend(process_chunk(keys, source, dest, task, settings)))
    failed = [row for row in rows if row.status != RowStatus.OK]
    if failed:
        raise BenchError(f"{len(failed)} of {len(rows)} images failed: {failed[0].error}")
    return sample, rows


def local_end_to_end(
    task: Task,
    pngs: Mapping[str, bytes],
    workdir: Path,
    work: float,
    repeats: int,
    label: str = "local e2e",
) -> Timing:
    source = _filled(open_storage(str(workdir / "in")), pngs)
    dest = open_storage(str(workdir / f"out-{task.name}"))
    return end_to_end(label, source, dest, task, work, repeats)


def s3_end_to_end(task: Task, pngs: Mapping[str, bytes], work: float, repeats: int) -> Timing:
    """Start a SeaweedFS server on loopback, upload the images, time the chunk against it."""
    from aepipe.tools.seaweedfs import SeaweedServer

    with SeaweedServer() as server, environ(server.env(), unset=_AWS_OVERRIDES):
        server.client().create_bucket(Bucket=BUCKET)
        source = _filled(open_storage(f"s3://{BUCKET}/in"), pngs)
        dest = open_storage(f"s3://{BUCKET}/out")
        timing = end_to_end("S3 e2e", source, dest, task, work, repeats)
    timing.note = f"SeaweedFS {weed_release(server.version)} on loopback, same machine"
    return timing


def weed_release(version: str) -> str:
    """``'version 8000GB 4.48 pypi linux amd64'`` -> ``'4.48'``; the first line if unusual."""
    words = version.split()
    release = [w for w in words if w[:1].isdigit() and "." in w]
    return release[0] if release else (version.splitlines() or ["(unknown version)"])[0]


def flow_end_to_end(workdir: Path, task_options: TaskOptions, images: int, work: float) -> Timing:
    """One ``process_images`` run over the local input folder, as ``aepipe run`` does it."""
    from aepipe.runtime.flow import process_images

    summaries: list[RunSummary] = []
    with environ(QUIET_SERVER):  # telemetry only adds noise

        def run() -> None:
            summaries.append(
                process_images(
                    source=str(workdir / "in"),
                    dest=str(workdir / "flow-out"),
                    overwrite=True,
                    **asdict(task_options),
                )
            )

        sample = measure(run)
    summary = summaries[0]
    if summary["counts"].get("ok") != images:
        raise BenchError(f"the flow did not process every image: {summary['counts']}")
    detail = "process_images flow, local folders, 1 run"
    note = "includes Prefect's temporary API start-up, a fresh session and the report"
    stages = dict(summary["seconds"])
    return Timing("flow e2e", detail, work, images, [sample], stages, note)


def _filled(storage: Storage, pngs: Mapping[str, bytes]) -> Storage:
    for key, data in pngs.items():
        storage.write(key, data)
    return storage


@contextmanager
def environ(values: Mapping[str, str], unset: Sequence[str] = ()) -> Iterator[None]:
    """Set (and unset) environment variables for the block, then put everything back."""
    names = [*values, *unset]
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in unset:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
