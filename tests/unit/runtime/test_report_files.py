"""report.html (escaping, contents) and rows.parquet (typed columns) as a run writes them."""

import io
import json
import math
import re

import pyarrow.parquet as pq

from aepipe.runtime.reports import (
    ReportCollector,
    ReportLocation,
    ReportRow,
    RowStatus,
    write_report,
)
from aepipe.runtime.reports.html import Gallery, GalleryItem, Thumbnail, write_page
from aepipe.runtime.reports.plots import histogram_png
from aepipe.storage import open_storage

HOSTILE = "<script>alert(1)</script>.png"


def rows() -> list[ReportRow]:
    return [
        ReportRow("a.png", psnr=31.5, extra={"anomaly_score": 2.5, "anomalous": False}),
        ReportRow(HOSTILE, psnr=math.inf, extra={"anomaly_score": 9.0, "anomalous": True}),
        ReportRow("bad.png", status=RowStatus.ERROR, error='bad.png: <b>"corrupt"</b> & more'),
    ]


RUN = {
    "run_id": "r1",
    "params": {"task": "anomaly", "dest": "<out>"},
    "thresholds": {"anomaly_score": 5.0},
}


def collected() -> ReportCollector:
    collector = ReportCollector({"anomaly_score": 5.0, "psnr": None})
    for row in rows():
        collector.add(row)
    return collector


def test_every_untrusted_string_is_escaped_or_data():
    gallery = Gallery(
        "Most anomalous", [GalleryItem(HOSTILE, "<i>caption</i>", [Thumbnail("<x>", b"\x89PNG")])]
    )
    out = io.BytesIO()
    with collected() as report:
        report.finish()
        write_page(out, report.totals.summary(RUN), report, {"<plot>": b"\x89PNG"}, [gallery])
    page = out.getvalue().decode()
    markup_outside_data = re.sub(r'<script id="data".*?</script>', "", page, flags=re.S)
    assert (
        HOSTILE not in markup_outside_data and "&lt;script&gt;alert(1)&lt;/script&gt;.png" in page
    )
    assert (
        "<b>" not in markup_outside_data
        and "&lt;b&gt;&quot;corrupt&quot;&lt;/b&gt; &amp; more" in page
    )
    blob = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, flags=re.S)
    assert blob and "</script" not in blob.group(1)
    data = json.loads(blob.group(1))
    assert [r["key"] for r in data["rows"]] == ["a.png", HOSTILE, "bad.png"]
    assert page.count("<script") == 2  # the data blob and the page's own script
    assert "http://" not in page and "https://" not in page  # nothing is fetched


def test_report_files_include_parquet_with_typed_columns_and_the_page(tmp_path):
    location = ReportLocation(open_storage(str(tmp_path)), "r1")
    with collected() as report:
        files = write_report(location, report, report.totals.summary(RUN))
    assert set(files) == {"rows.jsonl", "rows.csv", "rows.parquet", "summary.json", "report.html"}
    table = pq.read_table(io.BytesIO((tmp_path / "_reports/r1/rows.parquet").read_bytes()))
    types = {f.name: str(f.type) for f in table.schema}
    assert types["key"] == "string" and types["psnr"] == "double" and types["anomalous"] == "bool"
    assert table.column("psnr").to_pylist() == [31.5, None, None]  # inf is not a value
    page = (tmp_path / "_reports/r1/report.html").read_text()
    assert "data:image/png;base64," in page  # the anomaly_score histogram
    written = json.loads((tmp_path / "_reports/r1/summary.json").read_text())
    assert written["files"] == files and written["thresholds"] == {"anomaly_score": 5.0}


def test_histogram_marks_the_threshold():
    png = histogram_png([1.0, 2.0, 3.0, 8.0], "anomaly_score", 5.0)
    assert png.startswith(b"\x89PNG") and len(png) > 1000
