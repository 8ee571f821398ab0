"""Writes a run's report next to its outputs: ``DEST/_reports/<run-id>/``.

``rows.jsonl`` (one JSON object per image, the lossless record), ``rows.csv`` (the same for
spreadsheets) and ``summary.json``. Every file is written atomically by the storage layer.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aepipe.runtime.reports.rows import ReportRow
from aepipe.runtime.reports.summary import RunSummary
from aepipe.storage import Storage

REPORTS_PREFIX = "_reports"
REPORT_FILES = ("rows.jsonl", "rows.csv", "summary.json")


@dataclass(frozen=True)
class ReportLocation:
    storage: Storage
    run_id: str

    def key(self, name: str) -> str:
        return f"{REPORTS_PREFIX}/{self.run_id}/{name}"

    def uri(self, name: str) -> str:
        return self.storage.describe(self.key(name))

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


def write_report(
    location: ReportLocation, rows: Sequence[ReportRow], summary: RunSummary
) -> dict[str, str]:
    """Write the three report files; returns their URIs by name.

    The summary written already names the report's folder and files, so the file and what
    the flow returns are the same.
    """
    files = {name: location.uri(name) for name in REPORT_FILES}
    complete: RunSummary = {**summary, "report": location.folder, "files": files}
    contents = {
        "rows.jsonl": rows_jsonl(rows),
        "rows.csv": rows_csv(rows),
        "summary.json": json.dumps(complete, indent=2, default=_json_safe).encode(),
    }
    for name in REPORT_FILES:
        location.storage.write(location.key(name), contents[name])
    return files
