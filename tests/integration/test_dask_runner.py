"""``--runner dask``: chunk tasks on a real ``distributed.LocalCluster`` of two worker processes.

The cluster is the test's own (loopback, no dashboard), so the test can ask each worker what
it did: every worker that ran chunks built the task, and so loaded the model, exactly once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aepipe.runtime.tasks.build import _build
from flows.process_images import process_images

distributed = pytest.importorskip("distributed")
pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGES, CHUNK = 12, 2


@pytest.fixture
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as local:
        yield local


def test_chunks_run_on_dask_workers_with_one_model_load_each(
    prefect_harness: None, cluster: distributed.LocalCluster, tmp_path: Path
) -> None:
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    rng = np.random.default_rng(0)
    for i in range(IMAGES):
        pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(source / f"{i:02d}.png")

    summary = process_images(
        str(source),
        str(dest),
        task="denoise",
        noise_level=15.0,
        chunk_size=CHUNK,
        chunks_in_flight=4,
        runner=f"dask={cluster.scheduler_address}",
    )

    assert summary["counts"]["ok"] == IMAGES
    assert sorted(p.name for p in dest.glob("*.png")) == [f"{i:02d}.png" for i in range(IMAGES)]
    with distributed.Client(cluster) as client:
        builds = client.run(_build.cache_info)
        pids = client.run(os.getpid)
    assert set(pids.values()).isdisjoint({os.getpid()})
    loads = {worker: info.misses for worker, info in builds.items()}
    chunks_run = {worker: info.misses + info.hits for worker, info in builds.items()}
    assert sum(chunks_run.values()) == IMAGES // CHUNK  # every chunk ran on a Dask worker
    assert all(loads[w] == 1 for w, n in chunks_run.items() if n), loads
