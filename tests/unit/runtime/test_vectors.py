"""A run's vectors: Parquet parts per chunk, merged in order into embeddings.parquet with a
bounded sample for the projection plot."""

import io

import numpy as np
import pyarrow.parquet as pq
import pytest

from aepipe.runtime.reports import vectors
from aepipe.runtime.reports.plots import principal_plane, projection_png, spread_points
from aepipe.runtime.reports.rows import VECTOR_FIELD, ReportRow
from aepipe.runtime.reports.vectors import (
    EMBEDDINGS_FILE,
    merge_child_vectors,
    merge_vectors,
    write_vector_part,
)
from aepipe.runtime.reports.writer import ReportLocation
from aepipe.storage import open_storage


def rows(start: int, count: int) -> list[ReportRow]:
    return [
        ReportRow(
            f"k{i}", extra={VECTOR_FIELD: np.full(4, i, np.float32), "reconstruction_mse": 0.1 * i}
        )
        for i in range(start, start + count)
    ]


@pytest.fixture
def location(tmp_path) -> ReportLocation:
    return ReportLocation(open_storage(str(tmp_path)), "run")


def test_parts_merge_in_chunk_order_and_rows_give_up_their_vectors(location):
    first, second = rows(0, 3), rows(3, 2)
    write_vector_part(location, 1, second)
    write_vector_part(location, 0, first)
    assert all(VECTOR_FIELD not in r.extra for r in first + second)  # rows files stay small
    sample = merge_vectors(location, 3)  # part 2 never finished: it contributes nothing
    assert sample is not None and sample.total == 5
    table = pq.read_table(io.BytesIO(location.read(EMBEDDINGS_FILE) or b""))
    assert table.column("key").to_pylist() == ["k0", "k1", "k2", "k3", "k4"]
    assert table.column("vector").to_pylist()[4] == [4.0] * 4
    assert table.column("reconstruction_mse").to_pylist()[1] == pytest.approx(0.1)


def test_the_plot_sample_is_bounded_and_drawn_from_the_whole_run(location, monkeypatch):
    monkeypatch.setattr(vectors, "SAMPLE_SIZE", 10)
    for index in range(20):
        write_vector_part(location, index, rows(5 * index, 5))
    sample = merge_vectors(location, 20)
    assert sample is not None and sample.total == 100 and len(sample.keys) == 10
    assert sample.vectors.shape == (10, 4)
    picked = sorted(int(k[1:]) for k in sample.keys)
    assert picked[-1] >= 50  # not simply the first ten
    assert all(sample.vectors[i][0] == int(k[1:]) for i, k in enumerate(sample.keys))


def test_a_run_without_vectors_writes_no_embeddings_file(location):
    write_vector_part(location, 0, [ReportRow("plain")])
    assert merge_vectors(location, 1) is None and location.read(EMBEDDINGS_FILE) is None


def test_the_principal_plane_keeps_the_largest_spread_and_the_picked_points_cover_it():
    rng = np.random.default_rng(0)
    line = np.outer(rng.normal(size=200), [3.0, 4.0, 0.0]) + rng.normal(0, 0.01, (200, 3))
    points = principal_plane(line.astype(np.float32))
    assert points.shape == (200, 2) and points[:, 0].std() > 100 * points[:, 1].std()
    picked = spread_points(points, 5)
    assert len(set(picked)) == 5
    assert {int(np.argmin(points[:, 0])), int(np.argmax(points[:, 0]))} <= set(picked)
    assert principal_plane(np.ones((1, 3), np.float32)).shape == (1, 2)
    png = projection_png(points, 200, {picked[0]: np.zeros((8, 8, 3), np.uint8)})
    assert png.startswith(b"\x89PNG")


def test_a_fan_out_merges_its_shards_files_in_order(tmp_path):
    storage = open_storage(str(tmp_path))
    for run_id, start in (("shard-a", 0), ("shard-b", 3)):
        child = ReportLocation(storage, run_id)
        write_vector_part(child, 0, rows(start, 3))
        merge_vectors(child, 1)
    parent = ReportLocation(storage, "parent")
    sample = merge_child_vectors(parent, ["shard-a", "crashed-shard", "shard-b"])
    assert sample is not None and sample.total == 6
    table = pq.read_table(io.BytesIO(parent.read(EMBEDDINGS_FILE) or b""))
    assert table.column("key").to_pylist() == [f"k{i}" for i in range(6)]
    assert merge_child_vectors(ReportLocation(storage, "p2"), ["crashed-shard"]) is None
