"""``aepipe bench``: how fast the shipped denoiser and the pipeline around it really are.

One run measures, with the same thread count throughout:

1. model inference MP/s, ONNX Runtime (CPU) vs torch eager on the same weights
   (:mod:`aepipe.bench.models`);
2. pipeline throughput on synthetic photos: inference only, then end to end from local folders
   and from a SeaweedFS server it starts itself (:mod:`aepipe.bench.pipeline`);
3. the learned codec on the same photos: whole compress/decompress MP/s, and entropy coding
   alone in MB/s of latent symbols with its share of those calls (:mod:`aepipe.bench.codec`).

Speed goals are checked here, by measurement on a named machine, never by timed unit tests.
torch is optional: without it the torch row says why it is missing.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from aepipe.bench.codec import bench_codec
from aepipe.bench.models import TASK, bench_models, default_model
from aepipe.bench.pipeline import (
    flow_end_to_end,
    inference_only,
    local_end_to_end,
    s3_end_to_end,
    synthetic_pngs,
)
from aepipe.bench.report import BenchReport, entropy_line, summary_line
from aepipe.bench.timing import BenchError, Timing, megapixels
from aepipe.reports.machine import load_average, machine_info, usable_cpus
from aepipe.runtime.card import ModelCard
from aepipe.tasks import TilingParams, build_task

__all__ = ["BenchError", "BenchOptions", "BenchReport", "run_bench"]


@dataclass(frozen=True)
class BenchOptions:
    threads: int = 0  # 0: every CPU this process may use
    tile: int | None = None  # model input side and the pipeline's tile; None: the card's
    batch_size: int = 4  # tiles per model call (the model bench also times batch 1)
    images: int = 8  # few and small: the denoiser is compute-bound, a pass must stay short
    size: int = 512  # synthetic images are size x size RGB
    repeats: int = 3  # timed samples per measurement; the median is reported
    skip_s3: bool = False
    flow: bool = False  # also time one whole process_images flow (Prefect start-up included)
    skip_codec: bool = False  # no learned codec measurement

    def __post_init__(self) -> None:
        counts = ("batch_size", "images", "size", "repeats")
        bad = [f"--{name.replace('_', '-')}" for name in counts if getattr(self, name) < 1]
        if self.tile is not None and self.tile < 1:
            bad.append("--tile")
        if bad:
            raise BenchError(f"{', '.join(bad)} must be at least 1")
        if self.threads < 0:
            raise BenchError("--threads must be at least 0 (0: every usable CPU)")


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
    tiling = TilingParams(tile, overlap, options.batch_size)
    log(f"encoding {options.images} synthetic {options.size}x{options.size} PNGs")
    pngs = synthetic_pngs(options.images, options.size)
    pipeline, pipeline_info = _bench_pipeline(options, pngs, tiling, threads, log)
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
    )


def _tiling(options: BenchOptions, card: ModelCard) -> tuple[int, int]:
    """(tile, overlap) as ``aepipe run`` would resolve them, refused if they cannot tile."""
    tile, overlap = TilingParams(options.tile, None, options.batch_size).resolved(card)
    if tile <= 2 * overlap:
        raise BenchError(f"--tile {tile} must exceed twice the model's tile overlap ({overlap})")
    return tile, overlap


def _bench_pipeline(
    options: BenchOptions,
    pngs: Mapping[str, bytes],
    tiling: TilingParams,
    threads: int,
    log: Callable[[str], None],
) -> tuple[list[Timing], dict[str, Any]]:
    task = build_task(TASK, tiling=tiling, threads=threads)
    work = megapixels(options.size, options.size, options.images)
    repeats = options.repeats
    with tempfile.TemporaryDirectory(prefix="aepipe-bench-") as tmp:
        workdir = Path(tmp)
        steps: list[tuple[str, Callable[[], Timing]]] = [
            ("inference only", partial(inference_only, task, pngs, repeats)),
            ("local e2e", partial(local_end_to_end, task, pngs, workdir, work, repeats)),
        ]
        if not options.skip_s3:
            steps.append(("S3 e2e", partial(s3_end_to_end, task, pngs, work, repeats)))
        if options.flow:  # reads the input folder the local run filled
            flow = partial(flow_end_to_end, workdir, tiling, threads, options.images, work)
            steps.append(("flow e2e", flow))
        timings = [_attempt(label, step, log) for label, step in steps]
    info = {
        "pipeline_providers": task.runtime["providers"],
        "png_megabytes": round(sum(map(len, pngs.values())) / 1e6, 2),
    }
    return timings, info


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
