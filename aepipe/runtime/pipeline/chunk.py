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
from aepipe.metrics import reconstruction_error
from aepipe.runtime.options import ChunkOptions
from aepipe.runtime.pipeline.keys import output_key
from aepipe.runtime.reports.rows import ReportRow, RowStatus
from aepipe.runtime.tasks.base import Task
from aepipe.storage import Storage

SOURCE_KEY_METADATA = "aepipe-source-key"


@dataclass
class _Fetched:
    data: bytes | None  # None when skipped, planned or failed
    row: ReportRow


def process_chunk(
    keys: Sequence[str], source: Storage, dest: Storage, task: Task, options: ChunkOptions
) -> list[ReportRow]:
    """Run ``task`` over ``keys``; returns one row per key, in order."""
    provenance = {**task.provenance}
    with ThreadPoolExecutor(options.io_threads, thread_name_prefix="aepipe-io") as pool:
        uploads: list[tuple[ReportRow, Future[None]]] = []
        rows = []
        for fetched in _read_ahead(pool, keys, source, dest, task, options):
            rows.append(fetched.row)
            if fetched.data is not None:
                encoded = _transform(fetched, task, options)
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
    options: ChunkOptions,
) -> Iterator[_Fetched]:
    """Yield fetched images in key order, keeping ``read_ahead`` fetches in flight."""
    pending: deque[Future[_Fetched]] = deque()
    for key in keys:
        pending.append(pool.submit(_fetch, key, source, dest, task, options))
        if len(pending) > options.read_ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def predicted_output_key(key: str, task: Task, options: ChunkOptions) -> str | None:
    """The output key a source key will most likely get, from its extension alone.

    Used to skip finished work before downloading. A wrong guess (an extension that lies
    about the content) only costs a redo: the provenance check still guards the skip.
    """
    extension = task.predicted_extension(key, options)
    return None if extension is None else output_key(key, extension)


def _fetch(key: str, source: Storage, dest: Storage, task: Task, options: ChunkOptions) -> _Fetched:
    row = ReportRow(key)
    started = time.perf_counter()
    try:
        done_key = None if options.overwrite else predicted_output_key(key, task, options)
        if done_key and _is_done(dest, done_key, key, task.provenance):
            row.status, row.output_key = RowStatus.SKIPPED, done_key
            return _Fetched(None, row)
        if options.dry_run:
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


def _transform(fetched: _Fetched, task: Task, options: ChunkOptions) -> tuple[str, bytes] | None:
    """read → apply → write, timing each stage into the row; (output key, bytes) or None
    after an error."""
    row = fetched.row
    try:
        with _timed(row, "decode"):
            image = task.read(fetched.data or b"", row.key, options.max_pixels)
        info = image.info
        row.width, row.height, row.mode = info.width, info.height, info.mode
        row.warnings = "; ".join(info.warnings)
        with _timed(row, "infer"):
            result = task.apply(image)
        row.extra.update(result.fields)
        if result.compare_to_input:
            compared = result.pixels if result.reconstruction is None else result.reconstruction
            row.mse, row.psnr = reconstruction_error(image.pixels, compared)
        with _timed(row, "encode"):
            data = task.write(result, info, options)
    except Exception as error:
        _fail(row, error)
        return None
    row.output_key = output_key(row.key, task.output_extension(info, options))
    if task.output_key_field:
        row.extra[task.output_key_field] = row.output_key
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
