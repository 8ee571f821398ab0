"""Pass 1 of a streamed report: rows go by once, and only what the report needs is kept.

A run with ten million images cannot hold its rows in memory, and need not:

    rows            spooled to a local file as they arrive; pass 2 reads them back for
                    rows.jsonl, rows.csv, rows.parquet and the page's table
    summary         running totals (:class:`SummaryTotals`)
    plots           the plotted measures' values, 8 bytes a row each
    galleries and   a shortlist: for each way a row can be picked (most anomalous, flagged,
    artifacts       lowest and highest PSNR, first errors), the best few, so the galleries and
                    the Prefect table pick from it exactly what they would pick from all rows
    columns         every column in first-seen order, with the value types seen in it
    failures        the page's failure list, spooled as HTML
"""

from __future__ import annotations

import heapq
import html
import json
import math
import tempfile
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aepipe.runtime.reports.rows import ReportRow, RowStatus
from aepipe.runtime.reports.summary import SummaryTotals

#: Rows kept per way of picking: covers the galleries (8 each) and the artifact table (20).
SHORTLIST = 24


def json_safe(value: Any) -> Any:
    """inf/nan are not JSON: PSNR of an unchanged image is written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def number(row: ReportRow, name: str) -> float | None:
    """Field ``name`` of ``row`` as a finite float, if it is a number."""
    value = row.psnr if name == "psnr" else row.extra.get(name, getattr(row, name, None))
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


@dataclass
class Shortlist:
    """The few rows any picker could want, by several orders, in arrival order."""

    size: int = SHORTLIST
    _heaps: dict[str, list[tuple[float, int, ReportRow]]] = field(default_factory=dict)
    _firsts: dict[str, list[tuple[int, ReportRow]]] = field(default_factory=dict)
    _seen: int = 0

    def add(self, row: ReportRow) -> None:
        index, self._seen = self._seen, self._seen + 1
        if row.status is RowStatus.ERROR:
            self._first("error", index, row)
            return
        if row.status is RowStatus.PLANNED:
            self._first("planned", index, row)
            return
        if row.status is not RowStatus.OK:
            return
        if row.flagged:
            self._first("flagged", index, row)
            self._top("flagged score", row_score(row), index, row)
        if row.extra.get("out_of_domain") is True:
            self._first("out_of_domain", index, row)
        score = number(row, "anomaly_score")
        if score is not None:
            self._top("anomaly_score", score, index, row)
        area = number(row, "mask_area")
        if area:
            self._top("mask_area", area, index, row)
        if row.psnr is not None:
            psnr = row.psnr if not math.isnan(row.psnr) else math.inf
            self._top("lowest psnr", -psnr, index, row)
            self._top("highest psnr", psnr, index, row)

    def rows(self) -> list[ReportRow]:
        """Every kept row once, in the order the rows arrived."""
        kept = {-negated: r for heap in self._heaps.values() for _, negated, r in heap}
        kept |= {i: r for first in self._firsts.values() for i, r in first}
        return [kept[i] for i in sorted(kept)]

    def first(self, kind: str) -> list[ReportRow]:
        """The first rows of ``kind`` ('planned', 'error', ...) in arrival order."""
        return [row for _, row in self._firsts.get(kind, [])]

    def _first(self, kind: str, index: int, row: ReportRow) -> None:
        kept = self._firsts.setdefault(kind, [])
        if len(kept) < self.size:
            kept.append((index, row))

    def _top(self, order: str, value: float, index: int, row: ReportRow) -> None:
        """Keep the ``size`` largest values; on a tie the earlier row wins, as a stable sort
        of all rows would choose."""
        heap = self._heaps.setdefault(order, [])
        entry = (value, -index, row)
        if len(heap) < self.size:
            heapq.heappush(heap, entry)  # type: ignore[arg-type]
        elif entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)  # type: ignore[arg-type]


def row_score(row: ReportRow) -> float:
    return float(row.extra.get("anomaly_score") or row.extra.get("domain_score") or 0)


class ReportCollector:
    """Rows in (pass 1), then the report's inputs out; a context manager over its spool folder."""

    def __init__(self, measures: Mapping[str, float | None]) -> None:
        self.measures = dict(measures)  # plotted field -> threshold (None: no line)
        self.totals = SummaryTotals()
        self.shortlist = Shortlist()
        self.values: dict[str, array[float]] = {name: array("d") for name in self.measures}
        self.columns: dict[str, set[type]] = {}  # rows.* columns in first-seen order
        self.shown: dict[str, None] = {}  # the page's columns: ever non-empty
        self.failures = 0
        self._folder = tempfile.TemporaryDirectory(prefix="aepipe-report-")
        folder = Path(self._folder.name)
        self.rows_path = folder / "rows.spool"
        self.failures_path = folder / "failures.html"
        self._rows = self.rows_path.open("w", encoding="utf-8")
        self._failures = self.failures_path.open("w", encoding="utf-8")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close_spools()
        self._folder.cleanup()

    def add(self, row: ReportRow) -> None:
        record = row.to_dict()
        self._rows.write(json.dumps(record) + "\n")  # inf stays inf here (Python's JSON)
        self.totals.add(row)
        self.shortlist.add(row)
        for name in self.values:
            value = number(row, name) if row.status is RowStatus.OK else None
            if value is not None:
                self.values[name].append(value)
        for name, value in record.items():
            types = self.columns.setdefault(name, set())
            if json_safe(value) is not None:
                types.add(type(value))
            if value not in (None, "") and name not in self.shown:
                self.shown[name] = None
        if row.status is RowStatus.ERROR:
            self.failures += 1
            self._failures.write(f"<li><code>{_e(row.key)}</code>: {_e(row.error)}</li>")

    def finish(self) -> None:
        """No more rows: the spools are complete files from here on."""
        self._close_spools()

    def records(self) -> Iterator[dict[str, Any]]:
        """Pass 2: every row's flat dict (:meth:`ReportRow.to_dict`), in order."""
        with self.rows_path.open(encoding="utf-8") as spool:
            for line in spool:
                yield json.loads(line)

    def _close_spools(self) -> None:
        for spool in (self._rows, self._failures):
            if not spool.closed:
                spool.close()


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
