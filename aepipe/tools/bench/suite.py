"""The bench's whole run (``aepipe bench``): every measurement the options ask for, in
order, into one report (the package docstring lists them)."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.tiled import resolved_tiling
from aepipe.tools.bench import report_memory
from aepipe.tools.bench.compress import bench_codec
from aepipe.tools.bench.image_memory import measure as large_image_memory
from aepipe.tools.bench.models import TASK, bench_models, default_model
from aepipe.tools.bench.options import BenchOptions
from aepipe.tools.bench.peers import peers
from aepipe.tools.bench.pipeline import (
    CODEC_CAPACITY,
    IDENTITY_E2E,
    IN_MEMORY,
    codec_capacity,
    flow_end_to_end,
    in_memory,
    inference_only,
    local_end_to_end,
    s3_end_to_end,
    synthetic_pngs,
)
from aepipe.tools.bench.report import BenchReport, entropy_line, summary_line
from aepipe.tools.bench.scale import scale_out
from aepipe.tools.bench.startup import startup
from aepipe.tools.bench.timing import BenchError, Timing, megapixels
from aepipe.tools.machine import load_average, machine_info, usable_cpus

#: The small size every memory figure is compared with.
MEMORY_BASELINE_KEYS = 10_000


def _stderr(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run_bench(options: BenchOptions, log: Callable[[str], None] = _stderr) -> BenchReport:
    """Run every measurement ``options`` asks for; progress and results go to ``log``."""
    threads = options.threads or usable_cpus()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = load_average()
    model, sha256, path = default_model(threads)
    tile, overlap = _tiling(options, model.card)
    log(f"model inference (threads: {threads}), {options.repeats} samples per engine and shape")
    models, weights = bench_models(model, path, threads, tile, options.batch_size, options.repeats)
    for timing in models:
        log(summary_line(timing))
    task_options = TaskOptions(  # tile None: as `aepipe run` plans it for each image
        task=TASK,
        tile=options.tile,
        overlap=overlap,
        batch_size=options.batch_size,
        threads=threads,
    )
    log(f"encoding {options.images} synthetic {options.size}x{options.size} PNGs")
    pngs = synthetic_pngs(options.images, options.size)
    pipeline, pipeline_info = _bench_pipeline(options, pngs, task_options, tile, log)
    if options.peers:
        log(f"the same S3 -> S3 job three ways ({options.images} images, fresh processes)")
        with tempfile.TemporaryDirectory(prefix="aepipe-peers-") as tmp:
            compared = peers(dict(pngs), path, threads, Path(tmp))
        for timing in compared:
            log(summary_line(timing))
        pipeline += compared
    codec: list[Timing] = []
    codec_info: dict[str, Any] = {}
    if not options.skip_codec:
        codec, codec_info = _bench_codec(pngs, options.repeats, threads, log)
    info = {
        "model": model.card.name,
        "model_sha256": sha256,
        "model_providers": model.providers,
        "torch_weights": weights,
        "tile": tile,
        "overlap": overlap,
        **pipeline_info,
    }
    memory = []
    if options.report_keys:
        for keys in sorted({MEMORY_BASELINE_KEYS, options.report_keys}):
            log(f"planning and report merge at {keys:,} keys (a fresh process)")
            memory.append(report_memory.measure(keys))
            log(json.dumps(memory[-1]))
    image_memory = []
    if options.image_mp:
        log(f"one {options.image_mp:g}-megapixel image, identity and denoise (fresh processes)")
        image_memory = large_image_memory(options.image_mp, threads)
        log(json.dumps(image_memory))
    return BenchReport(
        date=date,
        options=asdict(options),
        threads=threads,
        machine=machine_info(),
        load_before=load_before,
        load_after=load_average(),
        info=info,
        models=models,
        pipeline=pipeline,
        codec=codec,
        codec_info=codec_info,
        report_memory=memory,
        image_memory=image_memory,
    )


def _tiling(options: BenchOptions, card: ModelCard) -> tuple[int, int]:
    """(tile, overlap) as ``aepipe run`` would resolve them, refused if they cannot tile."""
    tile, overlap = resolved_tiling(TaskOptions(task=TASK, tile=options.tile), card)
    if tile <= 2 * overlap:
        raise BenchError(f"--tile {tile} must exceed twice the model's tile overlap ({overlap})")
    return tile, overlap


def _bench_pipeline(
    options: BenchOptions,
    pngs: Mapping[str, bytes],
    task_options: TaskOptions,
    card_tile: int,
    log: Callable[[str], None],
) -> tuple[list[Timing], dict[str, Any]]:
    task = build_task(task_options)
    work = megapixels(options.size, options.size, options.images)
    repeats = options.repeats
    with tempfile.TemporaryDirectory(prefix="aepipe-bench-") as tmp:
        workdir = Path(tmp)
        steps: list[tuple[str, Callable[[], Timing]]] = [
            ("inference only", partial(inference_only, task, pngs, repeats)),
        ]
        if options.tile is None:  # beside the run's plan, the card's tiles as they are
            fixed = build_task(replace(task_options, tile=card_tile))
            label = f"inference only, {card_tile}-px tiles"
            steps.append((label, partial(inference_only, fixed, pngs, repeats, label)))
        identity = build_task(TaskOptions(task=TaskName.IDENTITY))
        steps += [
            (IN_MEMORY, partial(in_memory, task, pngs, repeats)),
            ("local e2e", partial(local_end_to_end, task, pngs, workdir, work, repeats)),
            (CODEC_CAPACITY, partial(codec_capacity, pngs, task_options.threads, repeats)),
            (
                IDENTITY_E2E,
                partial(local_end_to_end, identity, pngs, workdir, work, repeats, IDENTITY_E2E),
            ),
        ]
        if not options.skip_s3:
            steps.append(("S3 e2e", partial(s3_end_to_end, task, pngs, work, repeats)))
        if options.flow:  # reads the input folder the local run filled
            flow = partial(flow_end_to_end, workdir, task_options, options.images, work)
            steps.append(("flow e2e", flow))
        timings = [_attempt(label, step, log) for label, step in steps]
        if options.scale_out:
            job = _run_flags(task_options)
            cores = task_options.threads
            scaled = scale_out(workdir / "in", workdir, options.images, work, job, cores)
            for timing in scaled:
                log(summary_line(timing))
            timings += scaled
        if options.startup:
            started = startup(workdir, repeats)
            for timing in started:
                log(summary_line(timing))
            timings += started
    info = {
        "pipeline_providers": task.runtime.providers,
        "png_megabytes": round(sum(map(len, pngs.values())) / 1e6, 2),
    }
    return timings, info


def _run_flags(options: TaskOptions) -> list[str]:
    """``aepipe run`` flags for the bench's task, tiling and batch."""
    tiling = [] if options.tile is None else ["--tile", str(options.tile)]
    return [
        "--task",
        str(options.task),
        *tiling,
        "--overlap",
        str(options.overlap),
        "--batch-size",
        str(options.batch_size),
    ]


def _bench_codec(
    pngs: Mapping[str, bytes], repeats: int, threads: int, log: Callable[[str], None]
) -> tuple[list[Timing], dict[str, Any]]:
    """The codec rows; a failure becomes one row saying so, and the report still comes out."""
    log(f"learned codec: compress, decompress, entropy coding, {repeats} samples each")
    try:
        timings, info = bench_codec(pngs, repeats, threads)
    except Exception as error:  # whatever broke, the report must still come out
        message = _one_line(error)
        log(f"codec failed: {message}")
        return [Timing("codec", "", 0.0, error=message)], {}
    for timing in timings:
        log(summary_line(timing))
    log(entropy_line(info))
    return timings, info


def _attempt(label: str, step: Callable[[], Timing], log: Callable[[str], None]) -> Timing:
    """One measurement; a failure becomes a row saying so, and the others still count."""
    log(f"pipeline: {label}")
    try:
        timing = step()
    except Exception as error:  # whatever broke, the report must still come out
        message = _one_line(error)
        log(f"{label} failed: {message}")
        return Timing(label, "", 0.0, error=message)
    log(summary_line(timing))
    return timing


def _one_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
