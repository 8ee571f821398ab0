"""``aepipe eval`` for restoration tasks: a model against the best classical baseline, same
images, same run (protocols in :mod:`.protocol`).

The model runs through the production path (``build_task(...).apply`` on an image decoded from
PNG bytes); every output is in uint8 before scoring, as it would be written. Time is measured
around the method call only and reported as seconds per output megapixel.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aepipe.runtime.tasks.names import TaskName
from aepipe.tools.evaluation.dataset import list_images, load_clean
from aepipe.tools.evaluation.methods import MODEL, Method, baseline_methods, model_methods
from aepipe.tools.evaluation.protocol import Case, EvalConfig, EvalError, make_case
from aepipe.tools.evaluation.report import EvalReport, cpu_per_wall, now
from aepipe.tools.evaluation.scoring import score


def timed(method: Method, case: Case) -> tuple[np.ndarray, float, float]:
    """(pixels, wall seconds, process CPU seconds): CPU/wall shows the cores a method really got."""
    start, cpu = time.perf_counter(), time.process_time()
    pixels = method.restore(case)
    return pixels, time.perf_counter() - start, time.process_time() - cpu


def evaluate_case(config: EvalConfig, case: Case, methods: Sequence[Method]) -> dict[str, Any]:
    """Every method on one case: PSNR, SSIM, seconds and seconds per output megapixel."""
    height, width = case.reference.shape[:2]
    y_channel = config.task == TaskName.SUPERRES
    results = {}
    for method in methods:
        pixels, seconds, cpu_seconds = timed(method, case)
        if pixels.shape != case.reference.shape:
            raise EvalError(
                f"{case.name}: {method.label} returned {pixels.shape}, "
                f"expected {case.reference.shape}"
            )
        scores = score(case.reference, pixels, y_channel=y_channel, border=_border(config))
        results[method.label] = {
            "psnr": scores.psnr,
            "ssim": scores.ssim,
            "seconds": seconds,
            "seconds_per_mp": seconds / (height * width / 1e6),
            "cpu_seconds": cpu_seconds,
            "cpu_per_wall": cpu_per_wall(cpu_seconds, seconds),
            "unchanged": bool(np.array_equal(pixels, case.degraded.pixels)),
        }
    row = {"name": case.name, "seed": case.seed, "width": width, "height": height}
    if case.degraded.pixels.shape == case.reference.shape:  # what doing nothing would score
        row["input_psnr"] = score(case.reference, case.degraded.pixels).psnr
    return {**row, "results": results}


def _border(config: EvalConfig) -> int:
    return config.scale if config.task == TaskName.SUPERRES else 0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_eval(
    config: EvalConfig,
    methods: Sequence[Method] | None = None,
    log: Callable[[str], None] = _stderr,
) -> EvalReport:
    """Evaluate ``methods`` (default: the model, plus baselines unless disabled) on the folder."""
    from aepipe.tools.machine import load_average

    model: dict[str, Any] = {}
    if methods is None:
        found, model = model_methods(config)
        methods = found + (baseline_methods(config) if config.baseline else [])
    paths = list_images(config.data_dir, config.limit)
    report = EvalReport(config, model, [(m.label, m.kind) for m in methods])
    report.machine["load_average_before"] = load_average()
    for index, path in enumerate(paths):
        case = make_case(config, path.name, load_clean(path), config.seed + index)
        if index == 0:
            _warm_up(methods, case)
        row = evaluate_case(config, case, methods)
        report.images.append(row)
        log(_progress(index, len(paths), row))
    report.machine["load_average_after"] = load_average()
    report.finished = now()
    return report


def _warm_up(methods: Sequence[Method], case: Case) -> None:
    """One untimed model call: ONNX Runtime allocates its arenas on the first run."""
    for method in methods:
        if method.kind == MODEL:
            method.restore(case)


def _progress(index: int, total: int, row: dict[str, Any]) -> str:
    parts = [
        f"{label} {r['psnr']:.2f} dB {r['seconds']:.1f} s" for label, r in row["results"].items()
    ]
    return f"[{index + 1}/{total}] {row['name']}: " + "; ".join(parts)
