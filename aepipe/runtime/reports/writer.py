"""Writes a run's report next to its outputs: ``DEST/_reports/<run-id>/``.

``rows.jsonl`` (one JSON object per image, the lossless record), ``rows.csv`` (the same for
spreadsheets), ``rows.parquet`` (typed columns, for dataframes), ``summary.json`` and
``report.html`` (for people). Every file is written atomically by the storage layer.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aepipe.runtime.reports.html import Gallery, render_report
from aepipe.runtime.reports.plots import histograms
from aepipe.runtime.reports.rows import ReportRow
from aepipe.runtime.reports.summary import RunSummary
from aepipe.storage import Storage

REPORTS_PREFIX = "_reports"
REPORT_FILES = ("rows.jsonl", "rows.csv", "rows.parquet", "summary.json", "report.html")
#: Row fields plotted in report.html when present (besides those the task has thresholds for).
MEASURES = ("psnr", "bpp", "anomaly_score", "domain_score")


@dataclass(frozen=True)
class ReportLocation:
    storage: Storage
    run_id: str

    def key(self, name: str) -> str:
        return f"{REPORTS_PREFIX}/{self.run_id}/{name}"

    def uri(self, name: str) -> str:
        return self.storage.describe(self.key(name))

    def write(self, name: str, data: bytes) -> None:
        self.storage.write(self.key(name), data)

    @property
    def folder(self) -> str:
        return self.storage.describe(f"{REPORTS_PREFIX}/{self.run_id}")


def _json_safe(value: Any) -> Any:
    """inf/nan are not JSON: PSNR of an unchanged image is written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def rows_jsonl(rows: Sequence[ReportRow]) -> bytes:
    lines = (
        json.dumps({k: _json_safe(v) for k, v in r.to_dict().items()}, sort_keys=False)
        for r in rows
    )
    return ("\n".join(lines) + "\n").encode() if rows else b""


def rows_csv(rows: Sequence[ReportRow]) -> bytes:
    records = [r.to_dict() for r in rows]
    columns = list(dict.fromkeys(k for record in records for k in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue().encode()


def rows_parquet(rows: Sequence[ReportRow]) -> bytes:
    """Typed columns: the row's own fields as declared, task fields as their values' type
    (a column whose values disagree is stored as text rather than lost)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [{k: _json_safe(v) for k, v in r.to_dict().items()} for r in rows]
    columns = list(dict.fromkeys(k for record in records for k in record))
    arrays = {name: _column([record.get(name) for record in records]) for name in columns}
    buffer = io.BytesIO()
    pq.write_table(
        pa.table(arrays) if arrays else pa.table({"key": pa.array([], pa.string())}), buffer
    )
    return buffer.getvalue()


def _column(values: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def write_report(
    location: ReportLocation,
    rows: Sequence[ReportRow],
    summary: RunSummary,
    galleries: Sequence[Gallery] = (),
) -> dict[str, str]:
    """Write the report files; returns their URIs by name.

    The summary written already names the report's folder and files, so the file and what
    the flow returns are the same.
    """
    files = {name: location.uri(name) for name in REPORT_FILES}
    complete: RunSummary = {**summary, "report": location.folder, "files": files}
    thresholds = complete.get("thresholds", {})
    measures = {name: thresholds.get(name) for name in (*MEASURES, *thresholds)}
    page = render_report(complete, rows, histograms(rows, measures), galleries)
    contents = {
        "rows.jsonl": rows_jsonl(rows),
        "rows.csv": rows_csv(rows),
        "rows.parquet": rows_parquet(rows),
        "summary.json": json.dumps(complete, indent=2, default=_json_safe).encode(),
        "report.html": page.encode(),
    }
    for name in REPORT_FILES:
        location.write(name, contents[name])
    return files
