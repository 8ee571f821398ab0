"""Start-up: what an ad-hoc ``aepipe run`` of one small image costs around its work.

Three ways, each a fresh ``aepipe run --task identity`` process on one 128 x 128 PNG, in a
``PREFECT_HOME`` of the bench's own (its SQLite database made by an untimed first run), so
the user's profile and servers play no part:

    temporary API          no ``PREFECT_API_URL``, no server: Prefect's temporary server,
                           which aepipe starts before its own imports (``runtime/api.py``)
    empty flow, temporary  a flow that does nothing, Prefect starting its temporary server
                           as it does for any flow: Prefect's own floor on that path
    background server      ``prefect server start --background`` running: aepipe reuses it
    PREFECT_API_URL        the same server, named in the environment
    empty flow             a flow that does nothing, on that server: Prefect's own floor

A row's note gives the overhead: the process's wall time less the flow's own (start to report,
from the run's summary.json), the part no faster model or disk would shorten.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from aepipe.runtime.api import QUIET_SERVER, answers_health
from aepipe.tools.bench.timing import BenchError, Sample, Timing, megapixels
from aepipe.tools.seaweedfs import free_ports

SIDE = 128
PREFECT = [sys.executable, "-m", "prefect"]
SERVER_START_S = 120.0


def startup(workdir: Path, repeats: int) -> list[Timing]:
    """One row per way of reaching an API, ``repeats`` fresh runs each."""
    source = workdir / "startup-in"
    source.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(source / "small.png")
    [port] = free_ports(1)
    env = bench_env(workdir / "prefect-home", port)
    _run(source, workdir, env)  # untimed: creates the bench home's database
    rows = [_timed("temporary API", "Prefect's temporary server", source, workdir, env, repeats)]
    rows.append(_bare_flow("empty flow, temporary", "Prefect alone, its own start", env, repeats))
    with background_server(env, port):
        rows.append(_timed("background server", "found and reused", source, workdir, env, repeats))
        explicit = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
        rows.append(
            _timed("PREFECT_API_URL", "the same server", source, workdir, explicit, repeats)
        )
        rows.append(_bare_flow("empty flow", "Prefect alone, same server", explicit, repeats))
    return rows


def bench_env(home: Path, port: int) -> dict[str, str]:
    """This environment without any Prefect setting, pointed at the bench's own home and port."""
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {
        **env,
        **QUIET_SERVER,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        # A fresh home's first temporary server creates its database: on 2 busy cores that
        # outlasts Prefect's default 20 s wait (a CI run failed on it).
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(int(SERVER_START_S)),
    }


def _timed(
    label: str, detail: str, source: Path, workdir: Path, env: dict[str, str], repeats: int
) -> Timing:
    samples, overheads = [], []
    for _ in range(repeats):
        sample, flow_seconds = _run(source, workdir, env)
        samples.append(sample)
        overheads.append(sample.wall - flow_seconds)
    note = f"overhead {statistics.median(overheads):.2f} s (wall less the flow's own time)"
    return Timing(label, detail, megapixels(SIDE, SIDE, 1), 1, samples, note=note)


def _bare_flow(label: str, detail: str, env: dict[str, str], repeats: int) -> Timing:
    """Prefect's own floor: a flow that does nothing, in a fresh process, reaching its API as
    ``env`` says."""
    code = "from prefect import flow\n@flow\ndef bare() -> None:\n    pass\nbare()"
    samples = []
    for _ in range(repeats):
        before, start = os.times(), time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
        wall, after = time.perf_counter() - start, os.times()
        if done.returncode != 0:
            raise BenchError(f"an empty Prefect flow failed: {done.stderr[-500:]!r}")
        samples.append(Sample(wall, _children_cpu(after) - _children_cpu(before)))
    return Timing(label, detail, 0.0, 0, samples)


def _children_cpu(times: os.times_result) -> float:
    return times.children_user + times.children_system


def _run(source: Path, workdir: Path, env: dict[str, str]) -> tuple[Sample, float]:
    """One ``aepipe run`` process: its sample and the flow's wall seconds."""
    command = [sys.executable, "-c", "from aepipe.cli import main; raise SystemExit(main())"]
    command += ["run", str(source), str(workdir / "startup-out"), "--task", "identity"]
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run([*command, "--overwrite"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise BenchError(f"aepipe run exited {done.returncode}: {done.stderr[-500:]}")
    report = Path(json.loads(done.stdout.strip().splitlines()[-1])["report"])
    flow_seconds = float(json.loads((report / "summary.json").read_text())["wall_seconds"])
    return Sample(wall, _children_cpu(after) - _children_cpu(before)), flow_seconds


@contextmanager
def background_server(env: dict[str, str], port: int) -> Iterator[None]:
    """``prefect server start --background`` in ``env``'s home on ``port``, answering within
    the block and stopped after it (``prefect server stop``, as a user would)."""
    command = [*PREFECT, "server", "start", "--background", "--host", "127.0.0.1"]
    call = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_healthy(port)
        yield
    finally:
        subprocess.run([*PREFECT, "server", "stop"], env=env, capture_output=True, check=False)
        call.wait(30)


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if answers_health(f"http://127.0.0.1:{port}/api"):
            return
        time.sleep(0.5)
    raise BenchError(f"prefect server start --background: no answer in {SERVER_START_S:.0f} s")
