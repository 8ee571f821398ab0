"""Process one chunk of keys: fetch ahead on a thread pool while the model runs, upload behind.

    fetch (threads, read-ahead) ─► decode ─► task.apply ─► encode ─► upload (threads)

Every image ends as exactly one report row. A bad image becomes an ``error`` row naming the
key and the batch goes on; inputs are only ever read; outputs are written atomically, with
the task's provenance as metadata so a later run can skip them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from aepipe.errors import AepipeError
from aepipe.images import DEFAULT_MAX_PIXELS
from aepipe.pipeline.plan import output_key
from aepipe.reports.metrics import reconstruction_error
from aepipe.reports.rows import ReportRow, RowStatus
from aepipe.storage import Storage
from aepipe.tasks.base import OutputOptions, Task

SOURCE_KEY_METADATA = "aepipe-source-key"


@dataclass(frozen=True)
class ChunkSettings:
    overwrite: bool = False  # redo images whose output already carries this provenance
    dry_run: bool = False  # plan only: rows say planned/skipped, nothing is read or written
    max_pixels: int = DEFAULT_MAX_PIXELS  # decompression-bomb guard
    jpeg_quality: int = 95
    format: str | None = None  # force an output format; default follows the input
    io_threads: int = 8  # concurrent fetches/uploads: S3 latency hides behind them
    read_ahead: int = 4  # images fetched ahead of the model: bounds memory per chunk

    @property
    def output(self) -> OutputOptions:
        return OutputOptions(self.format, self.jpeg_quality)


@dataclass
class _Fetched:
    data: bytes | None  # None when skipped, planned or failed
    row: ReportRow


def process_chunk(
    keys: Sequence[str], source: Storage, dest: Storage, task: Task, settings: ChunkSettings
) -> list[ReportRow]:
    """Run ``task`` over ``keys``; returns one row per key, in order."""
    provenance = {**task.provenance}
    with ThreadPoolExecutor(settings.io_threads, thread_name_prefix="aepipe-io") as pool:
        uploads: list[tuple[ReportRow, Future[None]]] = []
        rows = []
        for fetched in _read_ahead(pool, keys, source, dest, task, settings):
            rows.append(fetched.row)
            if fetched.data is not None:
                encoded = _transform(fetched, task, settings)
                if encoded is not None:
                    metadata = _output_metadata(provenance, fetched.row.key)
                    future = pool.submit(_upload, dest, *encoded, metadata, fetched.row)
                    uploads.append((fetched.row, future))
        for row, future in uploads:
            _settle(row, future)
    return rows


def _read_ahead(
    pool: ThreadPoolExecutor,
    keys: Sequence[str],
    source: Storage,
    dest: Storage,
    task: Task,
    settings: ChunkSettings,
) -> Iterator[_Fetched]:
    """Yield fetched images in key order, keeping ``read_ahead`` fetches in flight."""
    pending: deque[Future[_Fetched]] = deque()
    for key in keys:
        pending.append(pool.submit(_fetch, key, source, dest, task, settings))
        if len(pending) > settings.read_ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def predicted_output_key(key: str, task: Task, settings: ChunkSettings) -> str | None:
    """The output key a source key will most likely get, from its extension alone.

    Used to skip finished work before downloading. A wrong guess (an extension that lies
    about the content) only costs a redo: the provenance check still guards the skip.
    """
    extension = task.predicted_extension(key, settings.output)
    return None if extension is None else output_key(key, extension)


def _fetch(
    key: str, source: Storage, dest: Storage, task: Task, settings: ChunkSettings
) -> _Fetched:
    row = ReportRow(key)
    started = time.perf_counter()
    try:
        done_key = None if settings.overwrite else predicted_output_key(key, task, settings)
        if done_key and _is_done(dest, done_key, key, task.provenance):
            row.status, row.output_key = RowStatus.SKIPPED, done_key
            return _Fetched(None, row)
        if settings.dry_run:
            row.status = RowStatus.PLANNED
            return _Fetched(None, row)
        data = source.read(key)
        row.bytes_in = len(data)
        return _Fetched(data, row)
    except AepipeError as error:
        _fail(row, error)
        return _Fetched(None, row)
    finally:
        row.seconds_fetch = round(time.perf_counter() - started, 4)


def _is_done(dest: Storage, out_key: str, key: str, provenance: Mapping[str, str]) -> bool:
    info = dest.head(out_key)
    if info is None:
        return False
    expected = _output_metadata(provenance, key)
    return all(info.metadata.get(k) == v for k, v in expected.items())


def _output_metadata(provenance: Mapping[str, str], source_key: str) -> dict[str, str]:
    """What an output carries, and what a finished output must carry to be skipped."""
    return {**provenance, SOURCE_KEY_METADATA: source_key}


def _transform(fetched: _Fetched, task: Task, settings: ChunkSettings) -> tuple[str, bytes] | None:
    """read → apply → write, timing each stage into the row; (output key, bytes) or None
    after an error."""
    row = fetched.row
    try:
        with _timed(row, "decode"):
            image = task.read(fetched.data or b"", row.key, settings.max_pixels)
        info = image.info
        row.width, row.height, row.mode = info.width, info.height, info.mode
        row.warnings = "; ".join(info.warnings)
        with _timed(row, "infer"):
            result = task.apply(image)
        row.extra.update(result.fields)
        if result.compare_to_input:
            row.mse, row.psnr = reconstruction_error(image.pixels, result.pixels)
        with _timed(row, "encode"):
            data = task.write(result, info, settings.output)
    except Exception as error:
        _fail(row, error)
        return None
    row.output_key = output_key(row.key, task.output_extension(info, settings.output))
    return row.output_key, data


def _upload(
    dest: Storage, out_key: str, data: bytes, metadata: dict[str, str], row: ReportRow
) -> None:
    with _timed(row, "upload"):
        dest.write(out_key, data, metadata)
    row.bytes_out = len(data)


def _settle(row: ReportRow, future: Future[None]) -> None:
    try:
        future.result()
    except Exception as error:
        _fail(row, error)


def _fail(row: ReportRow, error: BaseException) -> None:
    row.status = RowStatus.ERROR
    message = str(error)
    row.error = message if isinstance(error, AepipeError) else f"{type(error).__name__}: {message}"


class _timed:
    """Adds the block's wall time to ``row.seconds_<stage>``."""

    def __init__(self, row: ReportRow, stage: str) -> None:
        self.row, self.attr = row, f"seconds_{stage}"

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.started
        setattr(self.row, self.attr, round(getattr(self.row, self.attr) + elapsed, 4))
