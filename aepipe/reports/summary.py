"""The run's summary: counts per status, totals, and the mean reconstruction error."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from aepipe.reports.rows import ReportRow, RowStatus

STAGES = ("fetch", "decode", "infer", "encode", "upload")


def summarize(rows: Iterable[ReportRow], run: Mapping[str, Any]) -> dict[str, Any]:
    """Summary JSON for ``rows``; ``run`` holds the run's identity and parameters."""
    rows = list(rows)
    done = [r for r in rows if r.status is RowStatus.OK]
    finite = [r.psnr for r in done if r.psnr is not None and math.isfinite(r.psnr)]
    counts = Counter(str(r.status) for r in rows)
    return {
        **run,
        "images": len(rows),
        "counts": {s.value: counts.get(s.value, 0) for s in RowStatus},
        "bytes_in": sum(r.bytes_in or 0 for r in done),
        "bytes_out": sum(r.bytes_out or 0 for r in done),
        "seconds": {s: round(sum(getattr(r, f"seconds_{s}") for r in rows), 3) for s in STAGES},
        "mean_psnr": round(sum(finite) / len(finite), 4) if finite else None,
        "mean_mse": _mean([r.mse for r in done if r.mse is not None]),
        "errors": [{"key": r.key, "error": r.error} for r in rows if r.status is RowStatus.ERROR],
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
