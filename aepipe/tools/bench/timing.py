"""Timing primitives every measurement shares: samples, interleaved repeats, medians, MP/s.

Each sample records wall time and the process's CPU time over the same interval: on a shared
machine their ratio shows whether the benchmark really got the cores it asked for.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aepipe.errors import AepipeError
from aepipe.images import header_pixels

WARMUP_CALLS = 2  # first calls allocate arenas and pick kernels: never timed
MIN_SAMPLE_S = 0.25  # short model calls are looped until one sample lasts about this long
MAX_CALLS_PER_SAMPLE = 1000


class BenchError(AepipeError):
    """Bad options, or a pass that did not process every image (its numbers would lie)."""


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds per call
    cpu: float  # process CPU seconds (all threads) per call


@dataclass
class Timing:
    """One table row: what was timed, the work in one call, and every timed sample."""

    label: str
    detail: str
    megapixels: float  # pixels processed per call, in millions
    images: int = 0  # images per call (0 for raw model calls)
    samples: list[Sample] = field(default_factory=list)  # empty: not measured (see note)
    stages: dict[str, float] = field(default_factory=dict)  # median per-stage seconds
    note: str = ""
    error: str = ""  # the measurement failed: why (its numbers are absent)

    @property
    def seconds(self) -> float | None:
        return statistics.median(s.wall for s in self.samples) if self.samples else None

    @property
    def mp_per_s(self) -> float | None:
        return megapixels_per_second(self.megapixels, self.seconds)

    @property
    def images_per_s(self) -> float | None:
        return rate(self.images, self.seconds) if self.images else None

    @property
    def cpu_per_wall(self) -> float | None:
        """Cores busy on average: near the thread count means nothing else took the CPU."""
        if not self.samples:
            return None
        return rate(statistics.median(s.cpu for s in self.samples), self.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "detail": self.detail,
            "megapixels": self.megapixels,
            "images": self.images,
            "median_seconds": self.seconds,
            "megapixels_per_second": self.mp_per_s,
            "images_per_second": self.images_per_s,
            "cpu_per_wall": self.cpu_per_wall,
            "stages_seconds": self.stages,
            "samples": [{"wall": s.wall, "cpu": s.cpu} for s in self.samples],
            "note": self.note,
            "error": self.error,
        }


def rate(amount: float, seconds: float | None) -> float | None:
    """``amount / seconds``; None when there is no (or no positive) duration."""
    if seconds is None or seconds <= 0:
        return None
    return amount / seconds


def megapixels_per_second(megapixels: float, seconds: float | None) -> float | None:
    return rate(megapixels, seconds)


def megapixels(width: int, height: int, count: int = 1) -> float:
    return width * height * count / 1e6


def megapixels_of(files: Mapping[str, bytes]) -> float:
    """The work in a set of encoded images, read from their headers."""
    return sum(header_pixels(data) or 0 for data in files.values()) / 1e6


def measure(fn: Callable[[], object], calls: int = 1) -> Sample:
    """Run ``fn`` ``calls`` times; wall and CPU seconds per call."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return Sample((time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls)


def calls_per_sample(call_seconds: float, target: float = MIN_SAMPLE_S) -> int:
    """How many calls make one sample last about ``target`` seconds (at least one)."""
    if call_seconds <= 0:
        return MAX_CALLS_PER_SAMPLE
    return max(1, min(MAX_CALLS_PER_SAMPLE, math.ceil(target / call_seconds)))


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    repeats: int,
    *,
    warmup: int = WARMUP_CALLS,
    min_sample_s: float = MIN_SAMPLE_S,
) -> dict[str, list[Sample]]:
    """``repeats`` samples of each function, taken in turn (A B A B ...), warm-up excluded.

    Alternating means a background job slows every engine alike instead of whichever one
    happened to run while it was busy. The last warm-up call sizes each engine's samples.
    """
    calls: dict[str, int] = {}
    for name, fn in fns.items():
        for _ in range(warmup - 1):
            fn()
        calls[name] = calls_per_sample(measure(fn).wall, min_sample_s)
    samples: dict[str, list[Sample]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(measure(fn, calls[name]))
    return samples
