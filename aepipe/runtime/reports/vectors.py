"""A run's vectors (``--task embed``): one Parquet part per chunk, merged into
``_reports/<run-id>/embeddings.parquet`` (key, vector, reconstruction_mse).

A row carries its vector in memory only (``VECTOR_FIELD``); the chunk task moves the vectors
of its rows into ``vectors/<index>.parquet`` before it writes the rows' part, so every part a
resumed run reuses has its vectors. The merge streams part by part (a fan-out's: shard file
by shard file) and keeps a fixed-size random sample for the report's projection plot, so
memory does not grow with the run.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aepipe.runtime.reports.parts import existing_parts
from aepipe.runtime.reports.rows import VECTOR_FIELD, ReportRow
from aepipe.runtime.reports.writer import ReportLocation

EMBEDDINGS_FILE = "embeddings.parquet"
VECTOR_PARTS = "vectors"
#: Vectors kept for the report's projection plot, drawn uniformly from the whole run.
SAMPLE_SIZE = 2000


def vector_part_name(index: int) -> str:
    return f"{VECTOR_PARTS}/{index:08d}.parquet"


def write_vector_part(location: ReportLocation, index: int, rows: Sequence[ReportRow]) -> None:
    """Move the rows' vectors into the chunk's Parquet part (rows without one: nothing, and
    pyarrow, 29 MB, is not imported while the model still holds its memory)."""
    carried = [row for row in rows if VECTOR_FIELD in row.extra]
    if not carried:
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = [np.asarray(row.extra.pop(VECTOR_FIELD), dtype=np.float32) for row in carried]
    table = pa.table(
        {
            "key": pa.array([row.key for row in carried], pa.string()),
            "vector": pa.array([v.tolist() for v in vectors], pa.list_(pa.float32())),
            "reconstruction_mse": pa.array(
                [row.extra.get("reconstruction_mse") for row in carried], pa.float64()
            ),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    location.write(vector_part_name(index), buffer.getvalue())


@dataclass(frozen=True)
class VectorSample:
    """Up to ``SAMPLE_SIZE`` of a run's vectors, drawn uniformly, and how many there were."""

    keys: list[str]
    vectors: np.ndarray  # N x D float32
    total: int


def merge_vectors(location: ReportLocation, count: int) -> VectorSample | None:
    """Write ``embeddings.parquet`` from the parts of chunks 0 .. count-1 (in order, one part
    in memory at a time); None when the run made no vectors. One listing says which parts
    exist, so a run of another task costs no read per chunk."""
    present = existing_parts(location, VECTOR_PARTS, ".parquet")
    indexes = [i for i in range(count) if i in present]
    return _merge(location, (location.read(vector_part_name(i)) for i in indexes))


def merge_child_vectors(location: ReportLocation, child_runs: Sequence[str]) -> VectorSample | None:
    """A fan-out's ``embeddings.parquet``: its shard runs' files (in DEST beside this run's
    report) one after another; None when no shard left one."""
    storage = location.storage
    files = (ReportLocation(storage, run_id).read(EMBEDDINGS_FILE) for run_id in child_runs)
    return _merge(location, files)


def _merge(location: ReportLocation, tables: Iterable[bytes | None]) -> VectorSample | None:
    """Stream ``tables`` (Parquet bytes; None: absent) into the run's ``embeddings.parquet``,
    keeping a uniform random sample for the report's plot."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    sample_keys: list[str] = []
    sample: list[np.ndarray] = []
    total = 0
    writer = None
    with tempfile.TemporaryDirectory(prefix="aepipe-vectors-") as folder:
        path = Path(folder) / EMBEDDINGS_FILE
        for data in tables:
            if data is None:
                continue
            table = pq.read_table(io.BytesIO(data))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            for key, vector in zip(
                table.column("key").to_pylist(), table.column("vector").to_pylist(), strict=True
            ):
                total += 1
                slot = total - 1 if total <= SAMPLE_SIZE else int(rng.integers(total))
                if slot < SAMPLE_SIZE:  # reservoir sampling (Algorithm R)
                    if slot == len(sample):
                        sample_keys.append(key)
                        sample.append(np.asarray(vector, dtype=np.float32))
                    else:
                        sample_keys[slot], sample[slot] = key, np.asarray(vector, np.float32)
        if writer is None:
            return None
        writer.close()
        location.upload(EMBEDDINGS_FILE, path)
    return VectorSample(sample_keys, np.stack(sample), total)
