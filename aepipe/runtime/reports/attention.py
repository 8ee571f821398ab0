"""The rows a person should look at first, for the Prefect table artifact: errors, then rows a
check flagged (anomalous, out of domain), then the most changed (lowest PSNR)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from aepipe.runtime.reports.rows import FLAGS, ReportRow, RowStatus

ATTENTION_ROWS = 20
COLUMNS = ("key", "status", "error", "psnr", "anomaly_score", "domain_score", *FLAGS)


def attention_rows(rows: Sequence[ReportRow], limit: int = ATTENTION_ROWS) -> list[dict[str, Any]]:
    def rank(row: ReportRow) -> tuple[int, float]:
        if row.status is RowStatus.ERROR:
            return (0, 0.0)
        if row.flagged:
            return (1, -float(row.extra.get("anomaly_score") or row.extra.get("domain_score") or 0))
        psnr = row.psnr if row.psnr is not None else math.inf
        return (2, psnr)

    chosen = sorted((r for r in rows if r.status is not RowStatus.SKIPPED), key=rank)[:limit]
    return [_cells(row) for row in chosen]


def _cells(row: ReportRow) -> dict[str, Any]:
    data = row.to_dict()
    cells = {}
    for column in COLUMNS:
        value = data.get(column)
        if isinstance(value, float):
            value = round(value, 4) if math.isfinite(value) else str(value)
        cells[column] = "" if value is None else value
    return cells
