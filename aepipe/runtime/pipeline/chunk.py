"""Process one chunk of keys: fetch ahead on a thread pool while the model runs, upload behind.

    fetch + decode (threads, read-ahead) ─► task.apply ─► encode + upload (threads)

Decoding and encoding run on the I/O threads, beside the model and on every core (Pillow
releases the GIL in its codecs), for images up to ``PARALLEL_CODEC_PIXELS``; a larger image
is decoded and encoded on the model's thread, one at a time, so memory stays one large image.

Every image ends as exactly one report row. A bad image becomes an ``error`` row naming the
key and the batch goes on; inputs are only ever read; outputs are written atomically, with
the task's provenance as metadata so a later run can skip them.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from aepipe.errors import AepipeError, ObjectNotFoundError, PreconditionFailedError
from aepipe.images import DecodedImage, ImageInfo, header_pixels
from aepipe.metrics import reconstruction_error
from aepipe.runtime.options import ChunkOptions
from aepipe.runtime.pipeline.keys import output_key, sibling_key
from aepipe.runtime.reports.rows import ReportRow, RowStatus
from aepipe.runtime.tasks.base import Task, TaskOutput
from aepipe.runtime.tasks.names import SIBLING_SUFFIXES
from aepipe.storage import ObjectInfo, Precondition, Storage, metadata_text

SOURCE_KEY_METADATA = "aepipe-source-key"
#: The version (ETag) of the input an output was made from, and of its sibling (``none``: it
#: had none), so that a replaced image or an edited mask is redone, not skipped.
SOURCE_VERSION_METADATA = "aepipe-source-version"
SIBLING_VERSION_METADATA = "aepipe-sibling-version"
NO_SIBLING = "none"
#: The source key's share of S3's 2 KB of user metadata (the provenance takes under 400 bytes).
SOURCE_KEY_METADATA_BYTES = 1024
CONCURRENT_WRITE = "another run wrote this output with the same provenance meanwhile"
#: Images up to this many pixels are decoded and encoded on the I/O threads (docs/benchmarks.md,
#: "Codec work on every core"); at most ``io_threads`` outputs wait there to be encoded.
PARALLEL_CODEC_PIXELS = 4_000_000


@dataclass
class _Fetched:
    data: bytes | None  # None when skipped, planned or failed
    row: ReportRow
    seen: Seen | None = None  # the predicted output as the skip check found it
    sibling: bytes | None = None  # the input's sibling object (SIBLING_SUFFIXES), if any
    versions: Mapping[str, str] = field(default_factory=dict)  # source_versions() before reading
    image: DecodedImage | None = None  # decoded on the I/O thread that fetched it


@dataclass(frozen=True)
class _Output:
    """What the model made of one image, to be encoded under ``key``."""

    key: str
    result: TaskOutput
    info: ImageInfo


def process_chunk(
    keys: Sequence[str], source: Storage, dest: Storage, task: Task, options: ChunkOptions
) -> list[ReportRow]:
    """Run ``task`` over ``keys``; returns one row per key, in order."""
    provenance = {**task.provenance}
    with ThreadPoolExecutor(options.io_threads, thread_name_prefix="aepipe-io") as pool:
        writes: list[tuple[ReportRow, Future[None]]] = []
        encoding: deque[Future[None]] = deque()  # small outputs not written yet
        rows = []
        for fetched in _read_ahead(pool, keys, source, dest, task, options):
            rows.append(fetched.row)
            if fetched.data is None:
                continue
            small = fetched.image is not None  # decoded ahead on an I/O thread
            future = _process(fetched, small, pool, dest, task, options, provenance)
            if future is None:
                continue
            writes.append((fetched.row, future))
            if small:
                encoding.append(future)
                while len(encoding) > options.io_threads:  # bounded pixels waiting to encode
                    wait([encoding.popleft()])
        for row, future in writes:
            _settle(row, future)
    return rows


def _process(
    fetched: _Fetched,
    small: bool,
    pool: ThreadPoolExecutor,
    dest: Storage,
    task: Task,
    options: ChunkOptions,
    provenance: Mapping[str, str],
) -> Future[None] | None:
    """Apply the task to one fetched image and hand its output to the I/O threads: encoded
    there when it was decoded there (a small image), else encoded here first, so that a
    large image's pixels are gone before the next one is decoded. The write's future, or
    None when there is nothing to write."""
    output = _transform(fetched, task, options)
    if output is None:
        return None
    row = fetched.row
    metadata = output_metadata(provenance, row.key, fetched.versions)
    write = (dest, output.key, metadata, _precondition(fetched, output.key, options))
    if small:
        return pool.submit(_encode_and_upload, *write, output, task, options, row)
    data = _encode(output, task, options, row)
    return None if data is None else pool.submit(_upload, *write, data, row)


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
    """Download (or skip, or plan) ``key``; a small image is decoded here too."""
    fetched = _download(key, source, dest, task, options)
    if fetched.data is not None and (header_pixels(fetched.data) or 0) <= PARALLEL_CODEC_PIXELS:
        _decode(fetched, task, options)
    return fetched


def _download(
    key: str, source: Storage, dest: Storage, task: Task, options: ChunkOptions
) -> _Fetched:
    row = ReportRow(key)
    started = time.perf_counter()
    try:
        done_key = None if options.overwrite else predicted_output_key(key, task, options)
        seen, versions = None, None
        if done_key:
            seen = Seen(done_key, dest.head(done_key))
            if seen.info is not None:
                versions = source_versions(key, source, task)
                if carries(seen.info, output_metadata(task.provenance, key, versions)):
                    row.status, row.output_key = RowStatus.SKIPPED, done_key
                    return _Fetched(None, row)
        if options.dry_run:  # HEAD only: the size, and a missing object shows now
            info = source.head(key)
            if info is None:
                raise ObjectNotFoundError(f"no such object: {source.describe(key)}")
            row.status, row.bytes_in = RowStatus.PLANNED, info.size
            return _Fetched(None, row)
        versions = versions or source_versions(key, source, task)  # before reading: see there
        data = source.read(key)
        row.bytes_in = len(data)
        return _Fetched(data, row, seen, _sibling(key, source, task, versions), versions)
    except AepipeError as error:
        _fail(row, error)
        return _Fetched(None, row)
    finally:
        row.seconds_fetch = round(time.perf_counter() - started, 4)


def _sibling(key: str, source: Storage, task: Task, versions: Mapping[str, str]) -> bytes | None:
    """The sibling object of ``key`` its task reads beside it; None when it has none (or
    had none when ``versions`` were taken: no GET that would only answer 404)."""
    suffix = SIBLING_SUFFIXES.get(task.name)
    if suffix is None or versions.get(SIBLING_VERSION_METADATA) == NO_SIBLING:
        return None
    try:
        return source.read(sibling_key(key, suffix))
    except ObjectNotFoundError:
        return None


def source_versions(key: str, source: Storage, task: Task) -> dict[str, str]:
    """The versions of what ``key``'s output is made from: the input and, for a task that
    reads one, its sibling. Taken before the objects are read, so that a version replaced in
    between makes the next run redo the image rather than skip an output of older content."""
    info = source.head(key)
    if info is None:
        raise ObjectNotFoundError(f"no such object: {source.describe(key)}")
    versions = {SOURCE_VERSION_METADATA: _version(info)}
    suffix = SIBLING_SUFFIXES.get(task.name)
    if suffix is not None:
        sibling = source.head(sibling_key(key, suffix))
        versions[SIBLING_VERSION_METADATA] = NO_SIBLING if sibling is None else _version(sibling)
    return versions


def _version(info: ObjectInfo) -> str:
    """An object's version as a metadata value ('unknown' where the store gives no ETag: S3
    drops empty values, and an output that could never be skipped would be redone forever)."""
    return metadata_text(info.etag) if info.etag else "unknown"


@dataclass(frozen=True)
class Seen:
    """An output key and what ``head`` found there (None: nothing) when it was checked."""

    key: str
    info: ObjectInfo | None


def carries(info: ObjectInfo | None, expected: Mapping[str, str]) -> bool:
    """Whether an output ``head`` found carries the ``expected`` provenance (a finished one)."""
    return info is not None and all(info.metadata.get(k) == v for k, v in expected.items())


def output_metadata(
    provenance: Mapping[str, str], source_key: str, versions: Mapping[str, str]
) -> dict[str, str]:
    """What an output carries, and what a finished output must carry to be skipped: the
    task's provenance, the source key and ``versions`` (:func:`source_versions`). Keys are
    UTF-8; metadata is ASCII, so the source key travels percent-encoded where it must, or as
    its SHA-256 where the encoding would not fit S3's 2 KB of metadata."""
    encoded = metadata_text(source_key)
    if len(encoded) > SOURCE_KEY_METADATA_BYTES:
        encoded = "sha256:" + hashlib.sha256(source_key.encode()).hexdigest()
    return {**provenance, **versions, SOURCE_KEY_METADATA: encoded}


def _precondition(fetched: _Fetched, out_key: str, options: ChunkOptions) -> Precondition | None:
    """How the output may be written: only if still absent, or still the version the skip
    check saw, so two runs on one DEST never both write it (--overwrite: unconditionally)."""
    if options.overwrite:
        return None
    seen = fetched.seen
    if seen is None or seen.key != out_key:  # a key whose extension lies: rare, unguarded
        return None
    return Precondition(absent=True) if seen.info is None else Precondition(etag=seen.info.etag)


def _decode(fetched: _Fetched, task: Task, options: ChunkOptions) -> None:
    """``fetched.image`` from its bytes, timed; a failure makes the row an error (no image)."""
    row = fetched.row
    try:
        with _timed(row, "decode"):
            data = fetched.data or b""
            fetched.image = task.read(data, row.key, options.max_pixels, fetched.sibling)
    except Exception as error:
        _fail(row, error)


def _transform(fetched: _Fetched, task: Task, options: ChunkOptions) -> _Output | None:
    """(decode →) apply, timing each stage into the row; what to encode, or None after an
    error or for a task that writes nothing per image (its result is in the row)."""
    row = fetched.row
    if fetched.image is None:
        _decode(fetched, task, options)
    image, fetched.image = fetched.image, None  # the row's loop holds no pixels after this
    if image is None:
        return None
    try:
        info = image.info
        row.width, row.height, row.mode = info.width, info.height, info.mode
        row.warnings = "; ".join(info.warnings)
        with _timed(row, "infer"):
            result = task.apply(image)
        row.extra.update(result.fields)
        if result.compare_to_input:
            compared = result.pixels if result.reconstruction is None else result.reconstruction
            row.mse, row.psnr = reconstruction_error(image.pixels, compared)
        if not task.writes_output:
            return None
        key = output_key(row.key, task.output_extension(info, options))
    except Exception as error:
        _fail(row, error)
        return None
    return _Output(key, result, info)


def _encode(output: _Output, task: Task, options: ChunkOptions, row: ReportRow) -> bytes | None:
    """The output's bytes, timed; the row names its output key once they exist. None (and an
    error row) when encoding failed."""
    try:
        with _timed(row, "encode"):
            data = task.write(output.result, output.info, options)
    except Exception as error:
        _fail(row, error)
        return None
    row.output_key = output.key
    if task.output_key_field:
        row.extra[task.output_key_field] = output.key
    return data


def _encode_and_upload(
    dest: Storage,
    out_key: str,
    metadata: dict[str, str],
    precondition: Precondition | None,
    output: _Output,
    task: Task,
    options: ChunkOptions,
    row: ReportRow,
) -> None:
    data = _encode(output, task, options, row)
    if data is not None:
        _upload(dest, out_key, metadata, precondition, data, row)


def _upload(
    dest: Storage,
    out_key: str,
    metadata: dict[str, str],
    precondition: Precondition | None,
    data: bytes,
    row: ReportRow,
) -> None:
    """Write the output; a lost race to a run writing the same output is a skip, not an error."""
    with _timed(row, "upload"):
        try:
            dest.write(out_key, data, metadata, precondition)
        except PreconditionFailedError:
            if not carries(dest.head(out_key), metadata):
                raise
            row.status = RowStatus.SKIPPED
            row.warnings = "; ".join(filter(None, [row.warnings, CONCURRENT_WRITE]))
            return
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
