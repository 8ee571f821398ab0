"""Writes a run's report next to its outputs: ``DEST/_reports/<run-id>/`` (pass 2 of
:mod:`.collect`).

``rows.jsonl`` (one JSON object per image, the lossless record), ``rows.csv`` (the same for
spreadsheets), ``rows.parquet`` (typed columns, for dataframes), ``summary.json`` and
``report.html`` (for people). Every file is written atomically by the storage layer.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from aepipe.errors import ObjectNotFoundError
from aepipe.runtime.reports.collect import ReportCollector, json_safe
from aepipe.runtime.reports.html import Gallery, write_page
from aepipe.runtime.reports.plots import histograms
from aepipe.runtime.reports.summary import RunSummary
from aepipe.storage import Storage

REPORTS_PREFIX = "_reports"
REPORT_FILES = ("rows.jsonl", "rows.csv", "rows.parquet", "summary.json", "report.html")
#: Row fields plotted in report.html when present (besides those the task has thresholds for).
MEASURES = ("psnr", "bpp", "anomaly_score", "domain_score", "reconstruction_psnr")
#: Rows per Parquet row group (and per batch held in memory while writing it).
PARQUET_ROWS = 8192


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

    def read(self, name: str) -> bytes | None:
        """The report file ``name``, or None when the run did not leave it."""
        try:
            return self.storage.read(self.key(name))
        except ObjectNotFoundError:
            return None

    def upload(self, name: str, path: Path) -> None:
        self.storage.upload(self.key(name), path)

    @property
    def folder(self) -> str:
        return self.storage.describe(f"{REPORTS_PREFIX}/{self.run_id}")


def report_measures(thresholds: Mapping[str, float]) -> dict[str, float | None]:
    """Fields plotted in report.html, with the task's threshold on each where it has one."""
    return {name: thresholds.get(name) for name in (*MEASURES, *thresholds)}


def write_report(
    location: ReportLocation,
    collected: ReportCollector,
    summary: RunSummary,
    galleries: Sequence[Gallery] = (),
    figures: Mapping[str, bytes] | None = None,
    written: Sequence[str] = (),
) -> dict[str, str]:
    """Write the report files from ``collected`` rows (pass 2); returns their URIs by name.

    ``figures`` (title -> PNG) join the histograms on the page; ``written`` names files
    already in the report's folder (``embeddings.parquet``) that the summary lists too.

    Each file is written to a local temp file by streaming over the spooled rows and then
    uploaded streamed, so memory does not grow with the rows. The summary written already
    names the report's folder and files, so the file and what the flow returns are the same.
    """
    files = {name: location.uri(name) for name in (*REPORT_FILES, *written)}
    complete: RunSummary = {**summary, "report": location.folder, "files": files}
    collected.finish()
    plots = {**histograms(collected.values, collected.measures), **(figures or {})}
    writers: dict[str, Callable[[BinaryIO], None]] = {
        "rows.jsonl": partial(_rows_jsonl, collected),
        "rows.csv": partial(_rows_csv, collected),
        "rows.parquet": partial(_rows_parquet, collected),
        "report.html": lambda out: write_page(out, complete, collected, plots, galleries),
    }
    with tempfile.TemporaryDirectory(prefix="aepipe-report-") as folder:
        for name in REPORT_FILES:
            if name == "summary.json":
                data = json.dumps(complete, indent=2, default=json_safe).encode()
                location.write(name, data)
                continue
            path = Path(folder) / name
            with path.open("wb") as out:
                writers[name](out)
            location.upload(name, path)
    return files


def _rows_jsonl(collected: ReportCollector, out: BinaryIO) -> None:
    for record in collected.records():
        out.write(json.dumps({k: json_safe(v) for k, v in record.items()}).encode() + b"\n")


def _rows_csv(collected: ReportCollector, out: BinaryIO) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.DictWriter(text, fieldnames=list(collected.columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(collected.records())
    text.detach()  # leave ``out`` open for the caller


def _rows_parquet(collected: ReportCollector, out: BinaryIO) -> None:
    """Typed columns: a column of one kind of value keeps its type (ints with floats become
    floats); a column whose values disagree is stored as text rather than lost."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, _arrow_type(types)) for name, types in collected.columns.items()])
    if not collected.columns:
        schema = pa.schema([("key", pa.string())])
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[dict[str, Any]] = []
        for record in collected.records():
            batch.append(record)
            if len(batch) == PARQUET_ROWS:
                writer.write_table(_table(batch, schema))
                batch = []
        if batch or not collected.columns:
            writer.write_table(_table(batch, schema))


def _arrow_type(types: set[type]) -> Any:
    import pyarrow as pa

    if types == {bool}:
        return pa.bool_()
    if types == {int}:
        return pa.int64()
    if types and types <= {int, float}:
        return pa.float64()
    return pa.string()


def _table(records: list[dict[str, Any]], schema: Any) -> Any:
    import pyarrow as pa

    columns = {}
    for column in schema:
        values = [json_safe(record.get(column.name)) for record in records]
        if pa.types.is_string(column.type):
            values = [None if v is None else str(v) for v in values]
        elif pa.types.is_floating(column.type):
            values = [None if v is None else float(v) for v in values]
        columns[column.name] = pa.array(values, column.type)
    return pa.table(columns, schema=schema)
