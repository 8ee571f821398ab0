"""Which earlier run a new run continues (``pipeline/resume.py``), and the parts it reuses."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from aepipe.errors import AepipeError
from aepipe.runtime.options import RunOptions
from aepipe.runtime.pipeline.resume import run_to_continue
from aepipe.runtime.reports import ReportLocation, ReportRow
from aepipe.runtime.reports.parts import existing_parts, merged_rows, write_part
from aepipe.storage import Storage, open_storage


def options(**given: object) -> RunOptions:
    return RunOptions(source="in", dest="out", task="denoise", **given)  # type: ignore[arg-type]


def left_behind(dest: Storage, run_id: str, run: RunOptions, started: str, **summary: object):
    """What a run leaves in DEST: run.json, and a summary.json if it got that far."""
    location = ReportLocation(dest, run_id)
    record = {"run_id": run_id, "started": started, "params": asdict(run)}
    location.write("run.json", json.dumps(record).encode())
    if summary:
        location.write("summary.json", json.dumps(summary).encode())


@pytest.fixture
def dest(tmp_path: Path) -> Storage:
    return open_storage(str(tmp_path))


def test_the_newest_unfinished_run_of_the_same_job_is_continued(dest: Storage) -> None:
    assert run_to_continue(dest, options()) is None
    left_behind(dest, "old", options(), "2026-12-01T01:00:00")
    left_behind(dest, "killed", options(), "2026-12-01T02:00:00")
    left_behind(dest, "done", options(), "2026-12-01T03:00:00", complete=True)
    left_behind(dest, "stopped", options(noise_level=5.0), "2026-12-01T04:00:00", complete=False)
    assert run_to_continue(dest, options()) == "killed"
    # how a run executes is not what it does: a bigger runner still continues it
    assert run_to_continue(dest, options(runner="dask=4", io_threads=32)) == "killed"
    assert run_to_continue(dest, options(noise_level=5.0)) == "stopped"  # partial report
    assert run_to_continue(dest, options(noise_level=9.0)) is None
    assert run_to_continue(dest, options(dry_run=True)) is None


def test_resume_names_a_run_that_must_exist(dest: Storage) -> None:
    left_behind(dest, "done", options(), "2026-12-01T03:00:00", complete=True)
    assert run_to_continue(dest, options(resume="done")) == "done"
    with pytest.raises(AepipeError, match="--resume nope"):
        run_to_continue(dest, options(resume="nope"))


def test_parts_merge_in_chunk_order_and_a_missing_part_gives_no_rows(dest: Storage) -> None:
    location = ReportLocation(dest, "r")
    write_part(location, 2, [ReportRow("e.png"), ReportRow("f.png", psnr=float("inf"))])
    write_part(location, 0, [ReportRow("a.png"), ReportRow("b.png")])
    write_part(location, 7, [ReportRow("stale.png")])  # an earlier attempt's, beyond the end
    assert existing_parts(location) == {0, 2, 7}
    rows = list(merged_rows(location, 3))
    assert [r.key for r in rows] == ["a.png", "b.png", "e.png", "f.png"]
    assert rows[3].psnr == float("inf")  # an unchanged image, kept as such for the report
