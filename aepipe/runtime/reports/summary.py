"""The run's summary: who ran what, counts per status, totals, and the mean reconstruction error.

Typed (``RunSummary``), so every reader of ``summary.json`` and of the flow's return value reads
the same fields. The two provenance fields keep the metadata names outputs carry.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any, TypedDict

from aepipe.runtime.reports.rows import ReportRow, RowStatus

STAGES = ("fetch", "decode", "infer", "encode", "upload")


class ErrorEntry(TypedDict):
    key: str
    error: str


class ChildRun(TypedDict):
    """One shard's run of a fan-out, as the parent's merged report links it."""

    shard: str
    run_id: str
    state: str  # Prefect's final state type: COMPLETED, FAILED, CRASHED, CANCELLED
    report: str  # the child's report folder
    images: int  # rows it reported (0 when it left no report)


#: Who ran: filled by the flow from the run's options and the task's model and provenance.
RunInfo = TypedDict(
    "RunInfo",
    {
        "run_id": str,
        "params": dict[str, Any],  # the run's options, as given
        "aepipe-model-sha256": str,
        "aepipe-params": str,  # digest of the parameters that change outputs
        "model": str | list[str] | None,  # decompress: every codec the streams named
        "providers": list[str],  # execution providers the model really ran on
        "thresholds": dict[str, float],  # row field -> the task's decision threshold on it
        "started": str,  # ISO 8601, UTC
        "finished": str,
        "wall_seconds": float,  # from the flow's start to its report
        "complete": bool,  # False: the run was interrupted and this report is partial
        "interrupted": str,  # what stopped it (SIGTERM, Ctrl-C), when it was
        "children": list[ChildRun],  # a fan-out's shard runs (runtime/fanout.py)
    },
    total=False,
)


class RunEstimate(TypedDict):
    """What a --dry-run expects (runtime/pipeline/estimate.py)."""

    keys_to_do: int
    keys_done: int  # outputs already there with this run's provenance (they are skipped)
    bytes_to_do: int
    megapixels_to_do: float | None  # None when no sampled image could be decoded
    megapixels_sampled: int  # images the megapixels were measured on (the rest: by bytes)
    seconds_per_megapixel: float | None  # this worker: task, provider and threads of the run
    estimated_seconds: float | None  # the work left on one such worker, model time only


class RunSummary(RunInfo, total=False):
    images: int
    counts: dict[str, int]  # every RowStatus, zeros included
    bytes_in: int
    bytes_out: int
    seconds: dict[str, float]  # per stage, summed over images
    mean_psnr: float | None  # over finished images with a finite PSNR
    mean_mse: float | None
    errors: list[ErrorEntry]
    estimate: RunEstimate  # --dry-run only: work left and time on this worker
    report: str  # the folder the report files are in
    files: dict[str, str]  # report file name -> URI


def summarize(rows: Iterable[ReportRow], run: RunInfo) -> RunSummary:
    """Summary of ``rows``; ``run`` holds the run's identity and parameters."""
    rows = list(rows)
    done = [r for r in rows if r.status is RowStatus.OK]
    finite = [r.psnr for r in done if r.psnr is not None and math.isfinite(r.psnr)]
    counts = Counter(str(r.status) for r in rows)
    return RunSummary(
        **run,
        images=len(rows),
        counts={s.value: counts.get(s.value, 0) for s in RowStatus},
        bytes_in=sum(r.bytes_in or 0 for r in done),
        bytes_out=sum(r.bytes_out or 0 for r in done),
        seconds={s: round(sum(getattr(r, f"seconds_{s}") for r in rows), 3) for s in STAGES},
        mean_psnr=round(sum(finite) / len(finite), 4) if finite else None,
        mean_mse=_mean([r.mse for r in done if r.mse is not None]),
        errors=[{"key": r.key, "error": r.error} for r in rows if r.status is RowStatus.ERROR],
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
