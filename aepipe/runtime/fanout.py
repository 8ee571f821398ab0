"""Fan-out: one parent run splits the keys into N shards, each a child run of a deployment.

    parent (any worker)  ── run_deployment(shard 0/N) ──► child run on the pool's workers
                         ── run_deployment(shard 1/N) ──► child run …
                         ◄── waits for every child, streams DEST/_reports/<child>/rows.jsonl
                         ──► one merged report under DEST/_reports/<parent>/, linking them

Prefect's work pool does the scheduling (which worker, how many at once, retries of crashed
infrastructure); aepipe only names the shards. A key's shard is a stable hash of the key
(``pipeline.keys.shard_index``), so the children's key sets are disjoint and together every key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any, cast
from uuid import UUID

from aepipe.errors import AepipeError
from aepipe.runtime.options import RunOptions
from aepipe.runtime.reports import ReportLocation, ReportRow
from aepipe.runtime.reports.summary import ChildRun
from aepipe.storage import Storage

#: Seconds between looks at the children's states (each look is one API call per child).
POLL_SECONDS = 2.0


class FanOutError(AepipeError):
    """A fan-out that cannot start: no deployment to run the shards on."""


def child_parameters(options: RunOptions, index: int) -> dict[str, Any]:
    """The parent's parameters for shard ``index``: same job, one shard, no further fan-out."""
    assert options.fan_out is not None
    parameters = asdict(options)
    parameters.update(
        fan_out=None, deployment=None, resume=None, shard=f"{index}/{options.fan_out}"
    )
    return parameters


def deployment_name(options: RunOptions) -> str:
    """``--deployment``, else the deployment this parent itself runs from."""
    if options.deployment:
        return options.deployment
    from prefect.runtime import deployment, flow_run

    if deployment.name:
        return f"{flow_run.flow_name}/{deployment.name}"
    raise FanOutError(
        "--fan-out needs --deployment FLOW/DEPLOYMENT (e.g. process-images/k8s-gpu) when the "
        "run itself does not come from a deployment"
    )


def run_children(options: RunOptions, parent_id: str) -> list[Any]:
    """Start every shard's run (linked to the parent as subflows) and wait until all end."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    assert options.fan_out is not None
    name = deployment_name(options)
    started = [
        cast(
            FlowRun,
            run_deployment(
                name,
                parameters=child_parameters(options, index),
                timeout=0,  # start all, then wait for all
                flow_run_name=f"{parent_id[:8]}-shard-{index}-of-{options.fan_out}",
                idempotency_key=f"{parent_id}/shard/{index}",  # a retried parent starts no twins
            ),
        )
        for index in range(options.fan_out)
    ]
    with get_client(sync_client=True) as client:
        pending = {run.id for run in started}
        finished: dict[UUID, FlowRun] = {}
        while pending:
            for run_id in list(pending):
                run = client.read_flow_run(run_id)
                if run.state is not None and run.state.is_final():
                    finished[run_id] = run
                    pending.discard(run_id)
            if pending:
                time.sleep(POLL_SECONDS)
    return [finished[run.id] for run in started]


def child_links(dest: Storage, children: list[Any]) -> list[ChildRun]:
    """A line per child for the merged report: shard, final state, report folder, rows."""
    links = []
    for run in children:
        location = ReportLocation(dest, str(run.id))
        summary = location.read("summary.json")
        images = json.loads(summary).get("images", 0) if summary is not None else 0
        links.append(
            ChildRun(
                shard=str(run.parameters.get("shard")),
                run_id=str(run.id),
                state=str(run.state.type.value),
                report=location.folder,
                images=int(images),
            )
        )
    return links


def child_rows(dest: Storage, children: list[ChildRun]) -> Iterator[ReportRow]:
    """Every child's rows, read back from its rows.jsonl, one child at a time; a child that
    left no report (it crashed before writing one) contributes none."""
    for child in children:
        rows = ReportLocation(dest, child["run_id"]).read("rows.jsonl") or b""
        for line in rows.decode().splitlines():
            if line:
                yield ReportRow.from_dict(json.loads(line))
