"""The main batch job: restore every image under SOURCE into DEST, plus a report.

    list keys ─► chunks ─► process_chunk (one Prefect task per chunk) ─► report

Run it ad hoc with ``aepipe run``, or deploy it (``deploy/prefect.yaml``) to a process,
Docker or Kubernetes work pool. Swap the task runner (e.g. prefect-dask's
``DaskTaskRunner``) to fan chunks out over a cluster; the chunk task is self-contained.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from aepipe.pipeline import chunked, process_chunk
from aepipe.pipeline.progress import images_done
from aepipe.pipeline.run import RunParams, finish_report, input_keys, new_run_id
from aepipe.reports import ReportRow


@task(name="process-chunk", cache_policy=NO_CACHE)
def process_chunk_task(keys: list[str], params: RunParams) -> list[ReportRow]:
    """No Prefect retries: storage I/O retries inside botocore, image errors become rows."""
    source, dest = params.storages()
    rows = process_chunk(keys, source, dest, params.build_task(), params.chunk_settings())
    images_done(len(rows))
    return rows


@task(name="write-report", retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
def write_report_task(params: RunParams, run_id: str, rows: list[ReportRow]) -> dict[str, Any]:
    _, dest = params.storages()
    return finish_report(params, dest, run_id, rows, params.build_task())


# Two chunk tasks at a time: one computes while the other waits on storage. (The ignore:
# prefect 3.9 annotates the decorator with a generic runner type a concrete one fails.)
CHUNK_RUNNER: TaskRunner[PrefectFuture[Any]] = ThreadPoolTaskRunner(max_workers=2)  # type: ignore[assignment]


@flow(name="process-images", task_runner=CHUNK_RUNNER)
def process_images(
    source: str,
    dest: str,
    task: str,
    model: str | None = None,
    noise_level: float | None = None,
    scale: int | None = None,
    rate: int | None = None,
    anchors: bool = True,
    glob: str | None = None,
    batch_size: int = 4,
    tile: int | None = None,
    self_ensemble: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
    dry_run: bool = False,
    chunk_size: int = 32,
    chunks_in_flight: int = 4,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """Run ``task`` over every image under ``source`` into ``dest``; returns the summary.

    ``task``: denoise, unwatermark, superres (``scale``), compress (``rate``; ``anchors``
    adds JPEG/WebP at equal bpp to each row) or decompress (``.aec`` -> PNG).

    ``self_ensemble`` averages a restoration model over 8 flips/rotations of each tile: a
    little more quality for 8x the model time.

    ``chunks_in_flight`` bounds how many chunk tasks are submitted ahead of their results
    (memory for millions of keys); raise it with the task runner's workers, e.g. when
    running with ``process_images.with_options(task_runner=DaskTaskRunner(...))``.
    """
    params = RunParams(
        source,
        dest,
        task,
        model,
        noise_level,
        scale,
        rate,
        anchors,
        glob,
        batch_size,
        tile,
        self_ensemble=self_ensemble,
        overwrite=overwrite,
        limit=limit,
        dry_run=dry_run,
        endpoint_url=endpoint_url,
    )
    source_storage, _ = params.storages()
    params.build_task()  # a missing or damaged model fails the run before any work
    keys = input_keys(source_storage, glob, limit)
    rows = _run_chunks(params, chunked(keys, chunk_size), chunks_in_flight)
    summary = write_report_task(params, new_run_id(), rows)
    get_run_logger().info("report: %s (%s)", summary["report"], summary["counts"])
    _publish_artifact(summary)
    return summary


def _run_chunks(
    params: RunParams, chunks: Iterator[list[str]], max_in_flight: int
) -> list[ReportRow]:
    rows: list[ReportRow] = []
    in_flight: deque[PrefectFuture[list[ReportRow]]] = deque()
    for chunk in chunks:
        in_flight.append(process_chunk_task.submit(chunk, params))
        if len(in_flight) >= max_in_flight:
            rows.extend(in_flight.popleft().result())
    while in_flight:
        rows.extend(in_flight.popleft().result())
    return rows


def _publish_artifact(summary: dict[str, Any]) -> None:
    counts = ", ".join(f"{k}: {v}" for k, v in summary["counts"].items())
    errors = "\n".join(f"- `{e['key']}`: {e['error']}" for e in summary["errors"][:50])
    create_markdown_artifact(
        key="process-images-report",
        markdown=(
            f"# aepipe run {summary['run_id']}\n\n{counts}\n\n"
            f"mean PSNR (input vs output): {summary['mean_psnr']}\n\n"
            f"report: `{summary['report']}`\n\n{errors}"
        ),
        description="aepipe process_images summary",
    )


if __name__ == "__main__":
    process_images(source="aepipe/samples", dest="out/samples", task="identity")
