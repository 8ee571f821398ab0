"""A run's parameters, its input keys, and its report: the logic behind the Prefect flow."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from aepipe.pipeline.chunk import ChunkSettings
from aepipe.pipeline.plan import is_report_key
from aepipe.reports import ReportLocation, ReportRow, summarize, write_report
from aepipe.storage import Storage, check_no_overlap, open_storage
from aepipe.tasks import Task, TilingParams, build_task


@dataclass(frozen=True)
class RunParams:
    """Everything a chunk worker needs to rebuild the run's storages and task by itself."""

    source: str
    dest: str
    task: str
    model: str | None = None
    noise_level: float | None = None
    scale: int | None = None  # super-resolution factor; picks the shipped model
    rate: int | None = None  # compress: the codec's rate point (None: its middle one)
    anchors: bool = True  # compress: JPEG/WebP PSNR at the same bpp in every row
    glob: str | None = None
    batch_size: int = 4
    tile: int | None = None  # None: the model card's recommendation
    overlap: int | None = None
    self_ensemble: bool = False  # restoration: average the model over 8 flips/rotations
    overwrite: bool = False
    limit: int | None = None
    dry_run: bool = False
    endpoint_url: str | None = None

    def storages(self) -> tuple[Storage, Storage]:
        check_no_overlap(self.source, self.dest)
        return (
            open_storage(self.source, endpoint_url=self.endpoint_url),
            open_storage(self.dest, endpoint_url=self.endpoint_url),
        )

    def build_task(self) -> Task:
        tiling = TilingParams(self.tile, self.overlap, self.batch_size, self.self_ensemble)
        return build_task(
            self.task,
            self.model,
            noise_level=self.noise_level,
            scale=self.scale,
            tiling=tiling,
            rate=self.rate,
            anchors=self.anchors,
        )

    def chunk_settings(self) -> ChunkSettings:
        return ChunkSettings(overwrite=self.overwrite, dry_run=self.dry_run)


def input_keys(source: Storage, glob: str | None, limit: int | None) -> Iterator[str]:
    """Keys to process, streamed: reports a previous run left in the source are not inputs."""
    keys = (k for k in source.list(glob) if not is_report_key(k))
    return islice(keys, limit) if limit is not None else keys


def new_run_id() -> str:
    """The Prefect flow-run id when inside a flow run, else a fresh UUID."""
    from prefect.runtime import flow_run

    return str(flow_run.id or uuid.uuid4())


def finish_report(
    params: RunParams, dest: Storage, run_id: str, rows: list[ReportRow], task: Task
) -> dict[str, Any]:
    """Write rows + summary to ``DEST/_reports/<run_id>/``; returns the summary with paths."""
    location = ReportLocation(dest, run_id)
    run_info = {
        "run_id": run_id,
        "params": asdict(params),
        **dict(task.provenance),
        **dict(task.runtime),
    }
    summary = summarize(rows, run_info)
    summary["report"] = location.folder
    summary["files"] = write_report(location, rows, summary)
    return summary
