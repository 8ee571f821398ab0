"""Report rows, summary and the three report files."""

import csv
import io
import json
import math

import numpy as np
import pytest

from aepipe.metrics.error import reconstruction_error
from aepipe.runtime.reports import (
    ReportCollector,
    ReportLocation,
    ReportRow,
    RowStatus,
    write_report,
)
from aepipe.storage import open_storage


def test_reconstruction_error_of_identical_and_shifted_images():
    a = np.full((10, 10, 3), 100, np.uint8)
    assert reconstruction_error(a, a) == (0.0, math.inf)
    mse, psnr = reconstruction_error(a, a + 1)
    assert mse == pytest.approx((1 / 255) ** 2)
    assert psnr == pytest.approx(48.13, abs=0.01)


def test_super_resolved_output_is_compared_at_input_resolution():
    a = np.full((10, 12, 1), 40, np.uint16)
    big = np.full((20, 24, 1), 40, np.uint16)
    assert reconstruction_error(a, big)[0] == pytest.approx(0.0, abs=1e-9)


def collected(rows: list[ReportRow]) -> ReportCollector:
    collector = ReportCollector({"psnr": None})
    for row in rows:
        collector.add(row)
    return collector


def test_summary_counts_statuses_and_lists_errors():
    rows = [
        ReportRow("a.png", psnr=30.0, mse=0.001, bytes_in=10, bytes_out=20),
        ReportRow("b.png", psnr=math.inf, mse=0.0),
        ReportRow("c.png", status=RowStatus.ERROR, error="c.png: corrupt"),
        ReportRow("d.png", status=RowStatus.SKIPPED),
    ]
    with collected(rows) as report:
        summary = report.totals.summary({"run_id": "r1"})
    assert summary["counts"] == {"ok": 2, "error": 1, "skipped": 1, "planned": 0}
    assert summary["mean_psnr"] == 30.0  # infinite PSNR (unchanged image) is left out
    assert summary["errors"] == [{"key": "c.png", "error": "c.png: corrupt"}]
    assert summary["bytes_out"] == 20


def test_report_files_are_written_and_readable(tmp_path):
    rows = [
        ReportRow("a.png", psnr=math.inf, extra={"noise_level": 25.0}),
        ReportRow("b.png", status=RowStatus.ERROR, error="bad"),
    ]
    location = ReportLocation(open_storage(str(tmp_path)), "run-1")
    with collected(rows) as report:
        files = write_report(location, report, report.totals.summary({"run_id": "run-1"}))
    assert set(files) == {"rows.jsonl", "rows.csv", "rows.parquet", "summary.json", "report.html"}
    lines = (tmp_path / "_reports/run-1/rows.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["psnr"] is None and first["noise_level"] == 25.0
    assert ReportRow.from_dict(json.loads(lines[1])).status is RowStatus.ERROR
    table = list(csv.DictReader(io.StringIO((tmp_path / "_reports/run-1/rows.csv").read_text())))
    assert [r["key"] for r in table] == ["a.png", "b.png"] and "noise_level" in table[0]
    assert (
        json.loads((tmp_path / "_reports/run-1/summary.json").read_text())["counts"]["error"] == 1
    )
