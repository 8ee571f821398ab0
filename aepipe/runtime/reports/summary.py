"""The run's summary: who ran what, counts per status, totals, and the mean reconstruction error.

Typed (``RunSummary``), so every reader of ``summary.json`` and of the flow's return value reads
the same fields. The two provenance fields keep the metadata names outputs carry.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
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
        "chunks_reused": int,  # chunks an earlier, unfinished attempt of this run had done
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
    errors: list[ErrorEntry]  # the first LISTED_ERRORS; counts["error"] has how many in all
    estimate: RunEstimate  # --dry-run only: work left and time on this worker
    report: str  # the folder the report files are in
    files: dict[str, str]  # report file name -> URI


#: Errors listed in the summary itself (``counts`` has them all; the row files hold every one).
LISTED_ERRORS = 1000


@dataclass
class SummaryTotals:
    """The summary's figures, added up one row at a time: memory does not grow with rows."""

    images: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    bytes_in: int = 0
    bytes_out: int = 0
    bytes_planned: int = 0  # input bytes of the rows a dry run plans
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    psnr_sum: float = 0.0
    psnr_count: int = 0
    mse_sum: float = 0.0
    mse_count: int = 0
    errors: list[ErrorEntry] = field(default_factory=list)

    def add(self, row: ReportRow) -> None:
        self.images += 1
        self.counts[str(row.status)] += 1
        for stage in STAGES:
            self.seconds[stage] += getattr(row, f"seconds_{stage}")
        if row.status is RowStatus.ERROR and len(self.errors) < LISTED_ERRORS:
            self.errors.append({"key": row.key, "error": row.error})
        if row.status is RowStatus.PLANNED:
            self.bytes_planned += row.bytes_in or 0
        if row.status is not RowStatus.OK:
            return
        self.bytes_in += row.bytes_in or 0
        self.bytes_out += row.bytes_out or 0
        if row.psnr is not None and math.isfinite(row.psnr):
            self.psnr_sum += row.psnr
            self.psnr_count += 1
        if row.mse is not None:
            self.mse_sum += row.mse
            self.mse_count += 1

    def summary(self, run: RunInfo) -> RunSummary:
        """The summary of the rows added so far; ``run`` holds the run's identity."""
        return RunSummary(
            **run,
            images=self.images,
            counts={s.value: self.counts.get(s.value, 0) for s in RowStatus},
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            seconds={s: round(v, 3) for s, v in self.seconds.items()},
            mean_psnr=round(self.psnr_sum / self.psnr_count, 4) if self.psnr_count else None,
            mean_mse=self.mse_sum / self.mse_count if self.mse_count else None,
            errors=list(self.errors),
        )
