"""Which run a new run continues: ``--resume RUN_ID``, or the newest unfinished run of the
same job in DEST.

A run is unfinished when it left ``_reports/<id>/run.json`` but no complete summary (it was
killed, or stopped with a partial report). Whether it is still going on is not asked: a
SIGKILLed run looks alive to Prefect for a long time, and two runs of the same job at once
may share the report folder safely (their parts of one index hold the same keys, every
output is written once by the conditional writes, and each ends by merging every part). The
same job means the same parameters, apart from those that only say how to execute it (runner,
threads, I/O width, credentials), so a run restarted on a bigger cluster still continues.
Continuing reuses every part whose chunk holds the same keys (``reports.parts``); the rest of
the chunks run as usual.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aepipe.runtime.options import OptionError, RunOptions
from aepipe.runtime.reports.writer import REPORTS_PREFIX, ReportLocation
from aepipe.storage import Storage

#: Parameters that change how a run executes, not what it does.
EXECUTION_ONLY = frozenset(
    {
        "runner",
        "chunks_in_flight",
        "io_threads",
        "read_ahead",
        "threads",
        "credentials_block",
        "endpoint_url",
        "resume",
    }
)


def run_to_continue(dest: Storage, options: RunOptions) -> str | None:
    """The id of the run this one continues, or None to start afresh."""
    if options.resume is not None:
        named = ReportLocation(dest, options.resume)
        if dest.head(named.key("run.json")) is None:
            raise OptionError(
                f"--resume {options.resume}: {named.uri('run.json')} does not exist (no run "
                "of that id wrote to this DEST)"
            )
        return options.resume
    if options.dry_run:  # a plan is never continued, and never continues anything
        return None
    wanted = job(asdict(options))
    unfinished = []
    for key in dest.list(f"{REPORTS_PREFIX}/*/run.json"):
        record = json.loads(dest.read(key))
        run_id = key.split("/")[1]
        if job(record.get("params", {})) != wanted or _complete(dest, run_id):
            continue
        unfinished.append((str(record.get("started", "")), run_id))
    return max(unfinished)[1] if unfinished else None


def job(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that define what a run does, as JSON values."""
    values = json.loads(json.dumps(params, default=str))
    return {k: v for k, v in values.items() if k not in EXECUTION_ONLY}


def _complete(dest: Storage, run_id: str) -> bool:
    summary = ReportLocation(dest, run_id).read("summary.json")
    return summary is not None and bool(json.loads(summary).get("complete", False))
