"""The generation job as a Prefect flow: N new images from a generative autoencoder into DEST.

    indexes 0..N-1 ─► chunks ─► generate-chunk (a Prefect task each: draw, PNG, write)
                   ─► write-report (rows, summary, report.html with a contact sheet)

Image i is ``DEST/sample-<seed>-<i>.png``, drawn from its own seed pair (``samplers``) and
written with the model's and parameters' provenance, so a rerun of the same job skips what
a stopped run already wrote and makes the rest. ``generate_images`` takes exactly the fields
of :class:`GenerateOptions`; ``flows/generate_images.py`` is its deployment entrypoint.
"""

from __future__ import annotations

import io
import time
from collections import deque
from datetime import UTC, datetime
from functools import cache
from typing import Any

from PIL import Image
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from aepipe.errors import AepipeError
from aepipe.parameters import args_docstring, signature_of
from aepipe.runtime.flow import new_run_id, publish_artifacts, record_start, run_info
from aepipe.runtime.generation.samplers import CodeSampler, Sampler, generators, load_sampler
from aepipe.runtime.options import GenerateOptions
from aepipe.runtime.pipeline.chunk import carries
from aepipe.runtime.reports import ReportLocation, ReportRow, write_report
from aepipe.runtime.reports.collect import ReportCollector
from aepipe.runtime.reports.gallery import contact_sheet
from aepipe.runtime.reports.parts import merged_rows, write_part
from aepipe.runtime.reports.rows import RowStatus
from aepipe.runtime.reports.summary import RunSummary
from aepipe.runtime.tasks.base import TaskRuntime, provenance_of
from aepipe.storage import Storage

#: Chunk tasks submitted ahead of their results (memory stays flat whatever ``count`` is).
CHUNKS_IN_FLIGHT = 4
#: Images shown on the report's contact sheet (the first of the run).
SHEET_IMAGES = 64
CONTACT_SHEET = "contact-sheet.png"


def sample_key(seed: int, index: int) -> str:
    return f"sample-{seed}-{index:06d}.png"


@cache
def cached_sampler(model: str | None, prior: str, threads: int) -> Sampler:
    """One sampler per worker process: its sessions load once, not once per chunk."""
    return load_sampler(model, prior, threads)


def provenance(sampler: Sampler, options: GenerateOptions) -> dict[str, str]:
    """What every image of the run carries: the model files and the parameters that shape it."""
    params: dict[str, object] = {"task": "generate", "seed": options.seed}
    if isinstance(sampler, CodeSampler):
        params["prior"] = options.prior
    return provenance_of(sampler.sha256, params)


def generate_chunk(
    indexes: list[int], sampler: Sampler, dest: Storage, options: GenerateOptions
) -> list[ReportRow]:
    """Draw and write the images ``indexes`` (those already in DEST with this provenance are
    skipped); one row each, a failed write an error row."""
    expected = provenance(sampler, options)
    rows, todo = [], []
    for index in indexes:
        key = sample_key(options.seed, index)
        row = ReportRow(key, output_key=key, extra={"seed": options.seed, "index": index})
        rows.append(row)
        if not options.overwrite and carries(dest.head(key), expected):
            row.status = RowStatus.SKIPPED
        else:
            todo.append(row)
    if not todo:
        return rows
    started = time.perf_counter()
    images = sampler.draw(generators(options.seed, [row.extra["index"] for row in todo]))
    seconds = (time.perf_counter() - started) / len(todo)
    for row, image in zip(todo, images, strict=True):
        row.seconds_infer = round(seconds, 4)
        row.height, row.width, row.mode = image.shape[0], image.shape[1], "RGB"
        try:
            started = time.perf_counter()
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            row.seconds_encode = round(time.perf_counter() - started, 4)
            dest.write(row.key, buffer.getvalue(), expected)
            row.bytes_out = buffer.tell()
        except AepipeError as error:
            row.status, row.error = RowStatus.ERROR, str(error)
    return rows


@task(name="generate-chunk", cache_policy=NO_CACHE, persist_result=False)
def generate_chunk_task(
    indexes: list[int], options: GenerateOptions, run_id: str, index: int
) -> int:
    """Generate one chunk and write its rows as the run's part ``index``."""
    dest = options.open(options.dest)
    sampler = cached_sampler(options.model, options.prior, options.threads)
    rows = generate_chunk(indexes, sampler, dest, options)
    write_part(ReportLocation(dest, run_id), index, rows)
    return len(rows)


@task(name="write-report", cache_policy=NO_CACHE, persist_result=False)
def write_generation_report(
    options: GenerateOptions, run_id: str, started: datetime, chunks: int
) -> RunSummary:
    """Rows, summary and report.html (with the contact sheet) under ``_reports/<run_id>/``."""
    dest = options.open(options.dest)
    sampler = cached_sampler(options.model, options.prior, options.threads)
    location = ReportLocation(dest, run_id)
    made = provenance(sampler, options)
    with ReportCollector({}) as collected:
        shown: list[str] = []
        for row in merged_rows(location, chunks):
            collected.add(row)
            if row.status is not RowStatus.ERROR and len(shown) < SHEET_IMAGES:
                shown.append(row.key)
        decoder = sampler.decoder
        runtime = TaskRuntime(decoder.card.name, decoder.providers)
        run = run_info(run_id, options, made, runtime, started)
        summary = collected.totals.summary(run)
        figures, written = {}, []
        sheet = contact_sheet(shown, dest)
        if sheet is not None:
            location.write(CONTACT_SHEET, sheet)
            figures, written = {"contact sheet": sheet}, [CONTACT_SHEET]
        files = write_report(location, collected, summary, figures=figures, written=written)
        summary = {**summary, "report": location.folder, "files": files}
        publish_artifacts(summary, collected.shortlist.rows())
    get_run_logger().info("report: %s (%s)", summary["report"], summary["counts"])
    return summary


def _generate_images(*args: Any, **kwargs: Any) -> RunSummary:
    started, run_id = datetime.now(UTC), new_run_id()
    options = GenerateOptions(**_SIGNATURE.bind(*args, **kwargs).arguments)
    cached_sampler(options.model, options.prior, options.threads)  # a bad model fails now
    dest = options.open(options.dest)
    dest.probe()
    record_start(dest, run_id, options, started)
    spans = [
        list(range(first, min(first + options.chunk_size, options.count)))
        for first in range(0, options.count, options.chunk_size)
    ]
    in_flight: deque[PrefectFuture[int]] = deque()
    for index, span in enumerate(spans):
        in_flight.append(generate_chunk_task.submit(span, options, run_id, index))
        if len(in_flight) >= CHUNKS_IN_FLIGHT:
            in_flight.popleft().result()
    for future in in_flight:
        future.result()
    return write_generation_report(options, run_id, started, len(spans))


_SIGNATURE = signature_of(GenerateOptions)
_generate_images.__signature__ = _SIGNATURE  # type: ignore[attr-defined]
_generate_images.__annotations__ = {
    **{name: p.annotation for name, p in _SIGNATURE.parameters.items()},
    "return": RunSummary,
}
_generate_images.__doc__ = args_docstring(
    "Generate ``count`` images with a generative autoencoder into ``dest``; returns the "
    "run's summary.",
    GenerateOptions,
)
generate_images = flow(name="generate-images", persist_result=False)(_generate_images)
