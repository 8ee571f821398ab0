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
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
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

from aepipe.parameters import args_docstring, signature_of
from aepipe.runtime.fanout import child_links, child_rows, run_children
from aepipe.runtime.options import GenerateOptions, RunOptions
from aepipe.runtime.pipeline import chunked, input_keys, process_chunk
from aepipe.runtime.pipeline.estimate import estimate_run
from aepipe.runtime.pipeline.progress import images_done
from aepipe.runtime.pipeline.resume import run_to_continue
from aepipe.runtime.pipeline.runners import chunk_runner
from aepipe.runtime.reports import ReportLocation, ReportRow, write_report
from aepipe.runtime.reports.attention import attention_rows
from aepipe.runtime.reports.collect import ReportCollector
from aepipe.runtime.reports.gallery import build_galleries, embedding_map
from aepipe.runtime.reports.parts import existing_parts, merged_rows, read_part, write_part
from aepipe.runtime.reports.summary import ChildRun, RunInfo, RunSummary
from aepipe.runtime.reports.vectors import (
    EMBEDDINGS_FILE,
    merge_child_vectors,
    merge_vectors,
    write_vector_part,
)
from aepipe.runtime.reports.writer import report_measures
from aepipe.runtime.tasks.base import MODEL_SHA256_METADATA, PARAMS_METADATA, TaskRuntime
from aepipe.runtime.tasks.build import build_task, release_tasks
from aepipe.storage import Storage


# persist_result=False throughout: Prefect would cloudpickle results to storage if a
# deployment turned persistence on; the runtime unpickles nothing and pickles nothing.
@task(name="process-chunk", cache_policy=NO_CACHE, persist_result=False)
def process_chunk_task(keys: list[str], options: RunOptions, run_id: str, index: int) -> int:
    """Process one chunk and write its rows as the run's part ``index``; returns the row
    count. No Prefect retries: storage I/O retries inside botocore, image errors become rows."""
    source, dest = options.storages()
    rows = process_chunk(keys, source, dest, build_task(options), options)
    location = ReportLocation(dest, run_id)
    write_vector_part(location, index, rows)  # first: a part on record has its vectors
    write_part(location, index, rows)
    return len(rows)


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
    progress: ChunkProgress,
    children: list[ChildRun] | None = None,
) -> RunSummary:
    """Merge the run's parts (or a fan-out's children's reports) into ``DEST/_reports/<run_id>/``
    and publish the Prefect artifacts; returns the summary."""
    summary = finish_report(options, run_id, started, progress, children)
    get_run_logger().info("report: %s (%s)", summary["report"], summary["counts"])
    return summary


@dataclass
class ChunkProgress:
    """How far a run got: the report merges parts 0 .. ``chunks`` - 1."""

    chunks: int = 0  # chunks listed so far
    reused: int = 0  # of those, chunks an earlier attempt of this run had finished


def finish_report(
    options: RunOptions,
    run_id: str,
    started: datetime,
    progress: ChunkProgress,
    children: list[ChildRun] | None = None,
    interrupted: str | None = None,
) -> RunSummary:
    """The report files, streamed from the parts (or the children's rows); ``interrupted``
    names what stopped the run when they are partial; ``children`` are a fan-out's shard runs
    (the report is complete when all completed). A complete report also publishes the
    Prefect artifacts."""
    source, dest = options.storages()
    location = ReportLocation(dest, run_id)
    provenance, runtime = _facts_then_release(options)
    rows = (
        child_rows(dest, children)
        if children is not None
        else merged_rows(location, progress.chunks)
    )
    vectors = (
        merge_child_vectors(location, [child["run_id"] for child in children])
        if children is not None
        else merge_vectors(location, progress.chunks)
    )
    with ReportCollector(report_measures(runtime.thresholds)) as collected:
        for row in rows:
            collected.add(row)
        run = run_info(
            run_id,
            options,
            provenance,
            runtime,
            started,
            complete=interrupted is None,
            reused=progress.reused,
        )
        if interrupted:
            run["interrupted"] = interrupted
        if children is not None:
            run["children"] = children
            run["complete"] = all(child["state"] == "COMPLETED" for child in children)
        summary = collected.totals.summary(run)
        shortlist = collected.shortlist
        if options.dry_run:
            task = build_task(options)
            summary["estimate"] = estimate_run(collected.totals, shortlist, source, task, options)
        picked = shortlist.rows()
        galleries = [] if options.dry_run else build_galleries(picked, source, dest)
        figures = {"embedding map": embedding_map(vectors, source)} if vectors else {}
        written = [EMBEDDINGS_FILE] if vectors else []
        files = write_report(location, collected, summary, galleries, figures, written)
        summary = {**summary, "report": location.folder, "files": files}
        if interrupted is None:
            publish_artifacts(summary, picked)
        return summary


def _facts_then_release(options: RunOptions) -> tuple[Mapping[str, str], TaskRuntime]:
    """What the report needs of the run's task: its provenance and what ran. The task is then
    released (a dry run's estimate still times it), so the report's memory takes the place of
    the models' arenas instead of adding to it (docs/benchmarks.md)."""
    task = build_task(options)
    facts = task.provenance, task.runtime
    if not options.dry_run:
        release_tasks()
    return facts


def run_info(
    run_id: str,
    options: RunOptions | GenerateOptions,
    provenance: Mapping[str, str],
    runtime: TaskRuntime,
    started: datetime,
    *,
    complete: bool = True,
    reused: int = 0,
) -> RunInfo:
    """Who ran what, when: the summary's identity, from the run's options, its outputs'
    provenance and what actually ran; finished now."""
    finished = datetime.now(UTC)
    return {
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
        "complete": complete,
        "chunks_reused": reused,
    }


def _process_images(*args: Any, **kwargs: Any) -> RunSummary:
    started, flow_run_id = datetime.now(UTC), new_run_id()
    options = RunOptions(**_SIGNATURE.bind(*args, **kwargs).arguments)
    source, dest = options.storages()
    build_task(options)  # a missing or damaged model fails the run before any work
    source.probe()  # so does a missing bucket or refused credentials, on either side,
    dest.probe()
    if options.fan_out is not None:
        record_start(dest, flow_run_id, options, started)
        return _fan_out(options, flow_run_id, started, dest)
    run_id = run_to_continue(dest, options) or flow_run_id
    record_start(dest, run_id, options, started, flow_run_id)  # and a DEST taking no writes
    progress = ChunkProgress()
    try:
        _run_chunks(options, ReportLocation(dest, run_id), input_keys(source, options), progress)
    except (KeyboardInterrupt, TerminationSignal) as stop:
        reason = "SIGTERM" if isinstance(stop, TerminationSignal) else "interrupt (Ctrl-C)"
        partial = finish_report(options, run_id, started, progress, interrupted=reason)
        get_run_logger().warning("%s: partial report at %s", reason, partial["report"])
        raise
    return write_report_task(options, run_id, started, progress)


def _fan_out(options: RunOptions, run_id: str, started: datetime, dest: Storage) -> RunSummary:
    """Shards as child runs of a deployment; this run's report merges theirs."""
    children = child_links(dest, run_children(options, run_id))
    get_run_logger().info(
        "%d shards: %s", len(children), ", ".join(child["state"] for child in children)
    )
    return write_report_task(options, run_id, started, ChunkProgress(), children)


def record_start(
    dest: Storage,
    run_id: str,
    options: RunOptions | GenerateOptions,
    started: datetime,
    flow_run_id: str | None = None,
) -> None:
    """``_reports/<run-id>/run.json``: who started what, written before any image is touched,
    which also proves DEST exists and takes writes with these credentials. A run that
    continues an earlier one rewrites it with its own start and flow run."""
    record = {
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "params": asdict(options),
    }
    if flow_run_id is not None and flow_run_id != run_id:
        record["continued_by"] = flow_run_id
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


def _run_chunks(
    options: RunOptions, location: ReportLocation, keys: Iterator[str], progress: ChunkProgress
) -> None:
    """Submit a chunk task per chunk, at most ``chunks_in_flight`` ahead of their results;
    chunks whose part an earlier attempt of this run left (same keys) are not redone. A stop
    gives the chunks in flight STOP_GRACE_S to finish (and write their parts)."""
    done_before = existing_parts(location)
    in_flight: deque[PrefectFuture[int]] = deque()
    with chunk_runner(options) as runner:
        try:
            for index, chunk in enumerate(chunked(keys, options.chunk_size)):
                progress.chunks = index + 1
                if index in done_before and _keys(read_part(location, index)) == chunk:
                    progress.reused += 1
                    images_done(len(chunk))
                    continue
                parameters = {
                    "keys": chunk,
                    "options": options,
                    "run_id": location.run_id,
                    "index": index,
                }
                in_flight.append(runner.submit(process_chunk_task, parameters))
                if len(in_flight) >= options.chunks_in_flight:
                    _collect(in_flight)
            while in_flight:
                _collect(in_flight)
        except (KeyboardInterrupt, TerminationSignal):
            _wait_within(in_flight, STOP_GRACE_S)
            raise


def _keys(rows: list[ReportRow]) -> list[str]:
    return [row.key for row in rows]


def _collect(in_flight: deque[PrefectFuture[int]]) -> None:
    """Wait for the oldest chunk (it stays in flight until then, for a stop's grace period);
    counted here, not in the task, which may run in another process."""
    images_done(in_flight[0].result())
    in_flight.popleft()


#: How long a stopped run waits for its chunks in flight: their images are being written.
STOP_GRACE_S = 15.0


def _wait_within(in_flight: deque[PrefectFuture[int]], seconds: float) -> None:
    """Give the chunks in flight ``seconds`` to finish; the others are abandoned (their
    outputs, if any, are complete objects that the next run skips)."""
    deadline = time.monotonic() + seconds
    for future in in_flight:
        future.wait(max(0.0, deadline - time.monotonic()))


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
