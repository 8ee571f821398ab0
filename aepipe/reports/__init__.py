"""Per-image report rows, reconstruction-error metrics, and the files a run leaves behind."""

from aepipe.reports.metrics import reconstruction_error
from aepipe.reports.rows import ReportRow, RowStatus
from aepipe.reports.summary import summarize
from aepipe.reports.writer import ReportLocation, write_report

__all__ = [
    "ReportLocation",
    "ReportRow",
    "RowStatus",
    "reconstruction_error",
    "summarize",
    "write_report",
]
