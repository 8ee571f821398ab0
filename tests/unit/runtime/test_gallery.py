"""The report's galleries: which rows get pictures, and with which thumbnails."""

from pathlib import Path

import numpy as np
from imagefactory import save

from aepipe.runtime.reports.collect import Shortlist
from aepipe.runtime.reports.gallery import build_galleries
from aepipe.runtime.reports.rows import ReportRow
from aepipe.storage.local import LocalStorage


def test_the_largest_detected_marks_get_a_gallery_with_their_masks(tmp_path: Path):
    source, dest = LocalStorage(tmp_path / "in"), LocalStorage(tmp_path / "out")
    rows = []
    for index, area in enumerate([0.0, 0.02, 0.3, 0.1]):
        key = f"p{index}.png"
        source.write(key, save(np.full((20, 30, 3), 100, np.uint8)))
        dest.write(f"p{index}.mask.png", save(np.zeros((20, 30), np.uint8)))
        row = ReportRow(key, output_key=f"p{index}.mask.png")
        row.extra.update(mark_detected=area > 0, mask_area=area)
        rows.append(row)
    shortlist = Shortlist(size=2)
    for row in rows:
        shortlist.add(row)
    assert {r.key for r in shortlist.rows()} == {"p2.png", "p3.png"}  # kept for the gallery
    (gallery,) = build_galleries(rows, source, dest, per_gallery=2)
    assert gallery.title.startswith("Largest detected marks")
    assert [item.key for item in gallery.items] == ["p2.png", "p3.png"]
    assert gallery.items[0].caption == "mask_area 30.00%"
    assert [t.label for t in gallery.items[0].thumbnails] == ["input", "output"]


def test_a_row_kept_for_several_reasons_is_shown_once_in_arrival_order():
    """A flagged anomaly is both among the first flagged rows and the top scores: the
    gallery once listed it twice (the top-score heaps keyed it by its negated index)."""
    shortlist = Shortlist(size=3)
    for index, score in enumerate([9.0, 1.0, 7.0, 8.0]):
        row = ReportRow(f"p{index}.png")
        row.extra.update(anomaly_score=score, anomalous=score > 5)
        shortlist.add(row)
    assert [r.key for r in shortlist.rows()] == ["p0.png", "p2.png", "p3.png"]  # not p1: 1.0
