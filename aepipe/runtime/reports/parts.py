"""A run's rows as they are made: one part per chunk, ``_reports/<run-id>/parts/<index>.jsonl``.

The chunk task writes its part when the chunk ends, in whichever process ran it, so the rows
of every finished chunk are in storage even if the flow's own process dies. The final report
is merged from the parts (:mod:`.collect`), and a resumed run reuses every part whose keys
are still the same chunk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from aepipe.runtime.reports.rows import ReportRow
from aepipe.runtime.reports.writer import ReportLocation

PARTS = "parts"


def part_name(index: int) -> str:
    return f"{PARTS}/{index:08d}.jsonl"


def write_part(location: ReportLocation, index: int, rows: Iterable[ReportRow]) -> None:
    """One JSON object per row, as Python writes JSON: an unchanged image's PSNR stays
    ``Infinity`` here (parts are the report's own record; rows.jsonl has strict JSON)."""
    lines = (json.dumps(row.to_dict()) for row in rows)
    location.write(part_name(index), "".join(line + "\n" for line in lines).encode())


def read_part(location: ReportLocation, index: int) -> list[ReportRow]:
    """The part's rows; none when it is not there (its chunk never finished)."""
    data = location.read(part_name(index)) or b""
    return [ReportRow.from_dict(json.loads(line)) for line in data.decode().splitlines() if line]


def existing_parts(
    location: ReportLocation, folder: str = PARTS, extension: str = ".jsonl"
) -> set[int]:
    """Indexes of the parts in storage (a listing, no reads); ``folder`` and ``extension``
    name another kind of per-chunk part (the vectors' Parquet files)."""
    prefix = location.key(folder) + "/"
    found = set()
    for key in location.storage.list(f"{prefix}*{extension}"):
        stem = key[len(prefix) : -len(extension)]
        if stem.isdigit():
            found.add(int(stem))
    return found


def merged_rows(location: ReportLocation, count: int) -> Iterator[ReportRow]:
    """The rows of parts 0 .. count-1 in order, one part in memory at a time; a part that is
    missing (its chunk never finished) contributes none."""
    for index in range(count):
        yield from read_part(location, index)
