"""Per-image report rows, the run's summary, and the files a run leaves behind."""

from aepipe.runtime.reports.rows import ReportRow, RowStatus
from aepipe.runtime.reports.summary import summarize
from aepipe.runtime.reports.writer import ReportLocation, write_report

__all__ = ["ReportLocation", "ReportRow", "RowStatus", "summarize", "write_report"]
