"""Per-image report rows, the run's summary, and the files a run leaves behind."""

from aepipe.runtime.reports.collect import ReportCollector
from aepipe.runtime.reports.rows import ReportRow, RowStatus
from aepipe.runtime.reports.writer import ReportLocation, write_report

__all__ = ["ReportCollector", "ReportLocation", "ReportRow", "RowStatus", "write_report"]
