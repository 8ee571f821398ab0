"""Scale-out on one machine: the same job in one process, on 1 and 2 Dask workers, as 2 shards.

Every variant is a real ``aepipe run`` in its own process (Prefect's temporary API, the model
load and, for Dask, the LocalCluster's start are inside the time), over the same folder of
images with ``--overwrite``, and with the machine's cores shared out: ONNX Runtime gets
``cores / processes`` threads in each worker process, so no variant oversubscribes the CPU.

    threads     1 process, the chunk tasks on its threads
    dask=1      chunks on a LocalCluster of 1 single-threaded worker process
    dask=2      ... of 2 worker processes
    2 shards    2 concurrent ``aepipe run --shard I/2`` processes (what --fan-out starts)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aepipe.runtime.api import QUIET_SERVER
from aepipe.tools.bench.timing import BenchError, Sample, Timing

#: label, detail, and the extra arguments of each concurrent process, given threads per core.
Variant = tuple[str, str, list[list[str]]]
RUN = [sys.executable, "-c", "from aepipe.cli import main; raise SystemExit(main())", "run"]


def variants(cores: int) -> list[Variant]:
    whole, half = str(cores), str(max(1, cores // 2))
    return [
        ("threads", f"1 process, {whole} ORT threads", [["--threads", whole]]),
        (
            "dask=1",
            f"1 Dask worker, {whole} ORT threads",
            [["--runner", "dask=1", "--threads", whole]],
        ),
        (
            "dask=2",
            f"2 Dask workers, {half} ORT threads each",
            [["--runner", "dask=2", "--threads", half]],
        ),
        (
            "2 shards",
            f"2 concurrent runs --shard I/2, {half} ORT threads each",
            [["--shard", f"{i}/2", "--threads", half] for i in range(2)],
        ),
    ]


def scale_out(
    source: Path, workdir: Path, images: int, work: float, job: Sequence[str], cores: int
) -> list[Timing]:
    """One timed pass of every variant over ``source`` (``job``: the task's run flags)."""
    return [_variant(v, source, workdir, images, work, job) for v in variants(cores)]


def _variant(
    variant: Variant, source: Path, workdir: Path, images: int, work: float, job: Sequence[str]
) -> Timing:
    label, detail, processes = variant
    dest = workdir / f"scale-{label.replace(' ', '-').replace('=', '')}"
    common = [str(source), str(dest), *job, "--overwrite", "--chunk-size", "2"]
    common += ["--chunks-in-flight", "4"]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            [*RUN, *common, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_quiet_env(),
        )
        for extra in processes
    ]
    outputs = [proc.communicate() for proc in running]
    wall = time.perf_counter() - start
    done = 0
    flow_seconds = []
    for proc, (out, err) in zip(running, outputs, strict=True):
        if proc.returncode != 0:
            raise BenchError(f"{label}: aepipe run exited {proc.returncode}: {err[-500:]}")
        printed = json.loads(out.strip().splitlines()[-1])  # the CLI's short summary
        summary = json.loads((Path(printed["report"]) / "summary.json").read_text())
        done += summary["counts"]["ok"]
        flow_seconds.append(summary["wall_seconds"])
    if done != images:
        raise BenchError(f"{label}: {done} of {images} images processed")
    note = f"flow {max(flow_seconds):.1f} s of it (start to report, slowest process)"
    sample = Sample(wall, _children_cpu() - cpu_before)
    return Timing(label, detail, work, images, [sample], note=note)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _quiet_env() -> dict[str, str]:
    return {**os.environ, **QUIET_SERVER}
