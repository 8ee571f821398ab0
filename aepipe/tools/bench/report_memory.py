"""Peak memory of planning and of the report merge, at a given number of keys.

Each size runs in a fresh process (peak RSS only grows), which measures, in order:

    imports     the runtime imported: the floor every run pays
    planning    ``input_keys`` + ``chunked`` over a listing of N keys (a generated listing,
                so the storage's own memory is not measured, only the pipeline's)
    merge       N rows as N / chunk parts in a local DEST, merged into the five report files
                by the code the flow runs (``merged_rows`` -> ``ReportCollector`` ->
                ``write_report``)

If memory is bounded by a chunk, the three peaks stay nearly flat as N grows 100-fold.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from aepipe.runtime.options import RunOptions
from aepipe.runtime.pipeline import chunked, input_keys
from aepipe.runtime.reports import (
    ReportCollector,
    ReportLocation,
    ReportRow,
    RowStatus,
    write_report,
)
from aepipe.runtime.reports.parts import merged_rows, write_part
from aepipe.runtime.reports.writer import report_measures
from aepipe.runtime.tasks.names import TaskName
from aepipe.storage import Storage, open_storage
from aepipe.tools.bench.fresh import peak_mb, run_child

CHUNK = 32


def measure(keys: int, chunk: int = CHUNK) -> dict[str, Any]:
    """Run :func:`_child` for ``keys`` in a fresh interpreter; its figures as a dict."""
    return run_child(__name__, [str(keys), str(chunk)], f"report memory at {keys} keys")


class GeneratedListing:
    """A source that lists ``count`` keys, made up on the fly (it stores nothing)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.uri = f"generated://{count}"

    def list(self, glob: str | None = None) -> Iterator[str]:
        return (f"photos/{i // 1000:06d}/{i:09d}.jpg" for i in range(self.count))


def _child(keys_text: str, chunk_text: str) -> None:
    keys, chunk = int(keys_text), int(chunk_text)
    figures: dict[str, Any] = {"keys": keys, "chunk": chunk, "imports_mb": peak_mb()}

    options = RunOptions(source="in", dest="out", task=TaskName.IDENTITY, chunk_size=chunk)
    source = cast(Storage, GeneratedListing(keys))  # input_keys only lists
    start = time.perf_counter()
    chunks = sum(1 for _ in chunked(input_keys(source, options), chunk))
    figures |= {"planning_mb": peak_mb(), "planning_s": time.perf_counter() - start}

    with tempfile.TemporaryDirectory(prefix="aepipe-report-memory-") as folder:
        location = ReportLocation(open_storage(folder), "bench")
        listing = GeneratedListing(keys).list()
        for index, part in enumerate(chunked(listing, chunk)):
            rows = [_row(key, index * chunk + n) for n, key in enumerate(part)]
            write_part(location, index, rows)
        start = time.perf_counter()
        with ReportCollector(report_measures({})) as collected:
            for row in merged_rows(location, chunks):
                collected.add(row)
            summary = collected.totals.summary({"run_id": "bench"})
            write_report(location, collected, summary)
        sizes = {p.name: p.stat().st_size for p in Path(folder, "_reports", "bench").iterdir()}
    figures |= {
        "merge_mb": peak_mb(),
        "merge_s": time.perf_counter() - start,
        "report_mb": round(sum(v for k, v in sizes.items() if k != "parts") / 1e6, 1),
        "rows": summary["images"],
    }
    print(json.dumps(figures))


def _row(key: str, n: int) -> ReportRow:
    """A finished row with the fields a denoise run fills (every 1000th an error)."""
    if n % 1000 == 999:
        return ReportRow(key, status=RowStatus.ERROR, error=f"{key}: truncated file")
    return ReportRow(
        key,
        width=4032,
        height=3024,
        mode="RGB",
        output_key=key,
        bytes_in=3_000_000 + n % 997,
        bytes_out=2_900_000 + n % 991,
        seconds_fetch=0.05,
        seconds_decode=0.08,
        seconds_infer=1.2 + (n % 13) / 100,
        seconds_encode=0.1,
        seconds_upload=0.06,
        mse=1e-4 * (1 + n % 7),
        psnr=35.0 + (n % 101) / 20,
        extra={"noise_level": 25.0, "domain_score": 1.0 + (n % 37) / 10, "out_of_domain": False},
    )
