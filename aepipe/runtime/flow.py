"""The main batch job as a Prefect flow: every image under SOURCE through a task into DEST.

    list keys ─► chunks ─► process-chunk (one Prefect task per chunk) ─► write-report

``process_images`` takes exactly the fields of :class:`RunOptions` as its parameters (its
signature and docs are generated from them), so the CLI, the flow and a deployment's form in
Prefect's UI never disagree. ``flows/process_images.py`` is the deployment entrypoint that
exposes it. ``--runner`` picks where the chunk tasks run (threads here, or a Dask cluster
through prefect-dask's ``DaskTaskRunner``: ``pipeline/runners.py``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner

from aepipe.parameters import args_docstring, signature_of
from aepipe.runtime.fanout import merged_rows, run_children
from aepipe.runtime.options import RunOptions
from aepipe.runtime.pipeline import chunked, input_keys, process_chunk
from aepipe.runtime.pipeline.estimate import estimate_run
from aepipe.runtime.pipeline.progress import images_done
from aepipe.runtime.pipeline.runners import chunk_runner
from aepipe.runtime.reports import ReportLocation, ReportRow, summarize, write_report
from aepipe.runtime.reports.attention import attention_rows
from aepipe.runtime.reports.gallery import build_galleries
from aepipe.runtime.reports.summary import ChildRun, RunInfo, RunSummary
from aepipe.runtime.tasks.base import MODEL_SHA256_METADATA, PARAMS_METADATA, Task
from aepipe.runtime.tasks.build import build_task
from aepipe.storage import Storage


# persist_result=False throughout: Prefect would cloudpickle results to storage if a
# deployment turned persistence on; the runtime unpickles nothing and pickles nothing.
@task(name="process-chunk", cache_policy=NO_CACHE, persist_result=False)
def process_chunk_task(keys: list[str], options: RunOptions) -> list[ReportRow]:
    """No Prefect retries: storage I/O retries inside botocore, image errors become rows."""
    source, dest = options.storages()
    return process_chunk(keys, source, dest, build_task(options), options)


@task(
    name="write-report",
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    cache_policy=NO_CACHE,
    persist_result=False,
)
def write_report_task(
    options: RunOptions,
    run_id: str,
    started: datetime,
    rows: list[ReportRow],
    children: list[ChildRun] | None = None,
) -> RunSummary:
    """Write rows, summary and report.html to ``DEST/_reports/<run_id>/``; returns the summary."""
    return finish_report(options, run_id, started, rows, build_task(options), children=children)


def finish_report(
    options: RunOptions,
    run_id: str,
    started: datetime,
    rows: list[ReportRow],
    task: Task,
    interrupted: str | None = None,
    children: list[ChildRun] | None = None,
) -> RunSummary:
    """The report files; ``interrupted`` names what stopped the run when they are partial;
    ``children`` are a fan-out's shard runs (the report is complete when all completed)."""
    source, dest = options.storages()
    location = ReportLocation(dest, run_id)
    provenance, runtime = task.provenance, task.runtime
    finished = datetime.now(UTC)
    run: RunInfo = {
        "run_id": run_id,
        "params": asdict(options),
        "aepipe-model-sha256": provenance[MODEL_SHA256_METADATA],
        "aepipe-params": provenance[PARAMS_METADATA],
        "model": runtime.model,
        "providers": runtime.providers,
        "thresholds": runtime.thresholds,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "wall_seconds": round((finished - started).total_seconds(), 3),
        "complete": interrupted is None,
    }
    if interrupted:
        run["interrupted"] = interrupted
    if children is not None:
        run["children"] = children
        run["complete"] = all(child["state"] == "COMPLETED" for child in children)
    summary = summarize(rows, run)
    if options.dry_run:
        summary["estimate"] = estimate_run(rows, source, task, options)
    galleries = [] if options.dry_run else build_galleries(rows, source, dest)
    files = write_report(location, rows, summary, galleries)
    return {**summary, "report": location.folder, "files": files}


def _process_images(*args: Any, **kwargs: Any) -> RunSummary:
    started, run_id = datetime.now(UTC), new_run_id()
    options = RunOptions(**_SIGNATURE.bind(*args, **kwargs).arguments)
    source, dest = options.storages()
    task = build_task(options)  # a missing or damaged model fails the run before any work
    source.probe()  # so does a missing bucket or refused credentials, on either side,
    dest.probe()
    record_start(dest, run_id, options, started)  # and a DEST that takes no writes
    if options.fan_out is not None:
        return _fan_out(options, run_id, started, dest)
    rows: list[ReportRow] = []
    try:
        _run_chunks(options, chunked(input_keys(source, options), options.chunk_size), rows)
    except (KeyboardInterrupt, TerminationSignal) as stop:
        reason = "SIGTERM" if isinstance(stop, TerminationSignal) else "interrupt (Ctrl-C)"
        partial = finish_report(options, run_id, started, rows, task, interrupted=reason)
        get_run_logger().warning("%s: partial report at %s", reason, partial["report"])
        raise
    summary = write_report_task(options, run_id, started, rows)
    get_run_logger().info("report: %s (%s)", summary["report"], summary["counts"])
    publish_artifacts(summary, rows)
    return summary


def _fan_out(options: RunOptions, run_id: str, started: datetime, dest: Storage) -> RunSummary:
    """Shards as child runs of a deployment; this run's report merges theirs."""
    rows, children = merged_rows(dest, run_children(options, run_id))
    summary = write_report_task(options, run_id, started, rows, children)
    get_run_logger().info(
        "report: %s (%s; %d shards: %s)",
        summary["report"],
        summary["counts"],
        len(children),
        ", ".join(child["state"] for child in children),
    )
    publish_artifacts(summary, rows)
    return summary


def record_start(dest: Storage, run_id: str, options: RunOptions, started: datetime) -> None:
    """``_reports/<run-id>/run.json``: who started what, written before any image is touched,
    which also proves DEST exists and takes writes with these credentials."""
    record = {
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "params": asdict(options),
    }
    ReportLocation(dest, run_id).write("run.json", json.dumps(record, indent=2).encode())


_SIGNATURE = signature_of(RunOptions)
_process_images.__signature__ = _SIGNATURE  # type: ignore[attr-defined]
_process_images.__annotations__ = {
    **{name: p.annotation for name, p in _SIGNATURE.parameters.items()},
    "return": RunSummary,
}
_process_images.__doc__ = args_docstring(
    "Run ``task`` over every image under ``source`` into ``dest``; returns the run's summary.",
    RunOptions,
)
process_images = flow(name="process-images", persist_result=False)(_process_images)


def new_run_id() -> str:
    """The Prefect flow-run id when inside a flow run, else a fresh UUID."""
    from prefect.runtime import flow_run

    return str(flow_run.id or uuid.uuid4())


def _run_chunks(options: RunOptions, chunks: Iterator[list[str]], rows: list[ReportRow]) -> None:
    """Submit chunk tasks, keeping at most ``chunks_in_flight`` ahead of their results, and
    add each chunk's rows to ``rows`` as it finishes (an interrupted run keeps those, and
    gives the chunks in flight STOP_GRACE_S to finish theirs)."""
    in_flight: deque[PrefectFuture[list[ReportRow]]] = deque()
    with chunk_runner(options) as runner:
        try:
            _submit_all(runner, options, chunks, in_flight, rows)
        except (KeyboardInterrupt, TerminationSignal):
            rows.extend(_rows_finished_within(in_flight, STOP_GRACE_S))
            raise


def _submit_all(
    runner: TaskRunner[PrefectFuture[Any]],
    options: RunOptions,
    chunks: Iterator[list[str]],
    in_flight: deque[PrefectFuture[list[ReportRow]]],
    rows: list[ReportRow],
) -> None:
    for chunk in chunks:
        in_flight.append(runner.submit(process_chunk_task, {"keys": chunk, "options": options}))
        if len(in_flight) >= options.chunks_in_flight:
            _collect(in_flight, rows)
    while in_flight:
        _collect(in_flight, rows)


def _collect(in_flight: deque[PrefectFuture[list[ReportRow]]], rows: list[ReportRow]) -> None:
    """The oldest chunk's rows, once it has finished (it stays in flight until then, for a
    stop's grace period); counted here, not in the task, which may run in another process."""
    finished = in_flight[0].result()
    rows.extend(finished)
    images_done(len(finished))
    in_flight.popleft()


#: How long a stopped run waits for its chunks in flight: their images are being written.
STOP_GRACE_S = 15.0


def _rows_finished_within(
    in_flight: deque[PrefectFuture[list[ReportRow]]], seconds: float
) -> list[ReportRow]:
    """Rows of the chunks that finish within ``seconds``; the others are abandoned (their
    outputs, if any, are complete objects that the next run skips)."""
    deadline = time.monotonic() + seconds
    finished: list[ReportRow] = []
    for future in in_flight:
        future.wait(max(0.0, deadline - time.monotonic()))
        if future.state.is_completed():
            finished.extend(future.result())
    return finished


def publish_artifacts(summary: RunSummary, rows: list[ReportRow]) -> None:
    """A markdown summary, a table of the rows to look at first, a link to report.html."""
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
    create_table_artifact(
        key="process-images-rows",
        table=attention_rows(rows),
        description=f"{counts}; the rows to look at first (errors, then flagged, then lowest PSNR)",
    )
    create_link_artifact(
        key="process-images-html",
        link=summary["files"]["report.html"],
        link_text="report.html",
        description="the run's report for people: plots, gallery, every row",
    )
