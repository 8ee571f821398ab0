"""report.html (escaping, contents) and rows.parquet (typed columns) as a run writes them."""

import io
import json
import math
import re
from xml.etree import ElementTree

import pyarrow.parquet as pq
import pytest

from aepipe.runtime.reports import (
    ReportCollector,
    ReportLocation,
    ReportRow,
    RowStatus,
    write_report,
)
from aepipe.runtime.reports.html import Gallery, GalleryItem, Thumbnail, write_page
from aepipe.runtime.reports.plots import histogram_svg, nice_ticks
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
    assert "data:image/svg+xml;base64," in page  # the anomaly_score histogram
    written = json.loads((tmp_path / "_reports/r1/summary.json").read_text())
    assert written["files"] == files and written["thresholds"] == {"anomaly_score": 5.0}


def test_histogram_marks_the_threshold_and_counts_each_side():
    svg = ElementTree.fromstring(histogram_svg([1.0, 2.0, 3.0, 8.0], "<score>", 5.0))
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "<score>: 4 images, 1 above the threshold" in texts and "threshold 5" in texts
    dashed = [line for line in svg.iter() if line.get("stroke-dasharray")]
    assert len(dashed) == 1
    bars = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") != "white"]
    heights = sorted(float(r.get("height")) for r in bars)
    # five bins over 1..8: 1 and 2 share the first
    assert len(bars) == 3 and heights[-1] == pytest.approx(2 * heights[0], abs=0.2)


def test_histogram_of_one_repeated_value_still_draws():
    svg = histogram_svg([2.5] * 10, "bpp", None)
    assert b"bpp: 10 images" in svg and b"nan" not in svg


def test_ticks_are_round_and_inside_the_range():
    assert nice_ticks(24.1, 36.2) == [25, 30, 35]
    assert nice_ticks(0.0, 0.93) == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0.0, 3.15, integers=True) == [0, 1, 2, 3]
