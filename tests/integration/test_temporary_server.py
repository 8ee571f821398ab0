"""The temporary Prefect server an ad-hoc command starts when there is no API to report to.

``runtime/api.py`` starts it before the command's imports rather than after them; these
tests check that it is still Prefect's temporary server in what matters: the run and its task
runs are recorded in ``PREFECT_HOME``'s database, nothing is lost at exit, and no server
outlives the command, however the command ends.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aepipe.runtime.api import QUIET_SERVER

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVER_START_S = 120  # a fresh home's first server creates its database: slow on 2 busy cores
RUN_TIMEOUT_S = 180
CLI = [sys.executable, "-c", "from aepipe.cli import main; raise SystemExit(main())"]


def _bare_env(home: Path) -> dict[str, str]:
    """This environment without any Prefect setting: no API URL, a home of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {
        **env,
        **QUIET_SERVER,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(SERVER_START_S),
    }


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _closes_within(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _listening(port):
            return True
        time.sleep(0.1)
    return False


def test_an_adhoc_run_records_itself_on_a_temporary_server_that_ends_with_it(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(source / "one.png")
    home = tmp_path / "home"
    command = [*CLI, "run", str(source), str(tmp_path / "out"), "--task", "identity"]
    done = subprocess.run(
        command, env=_bare_env(home), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr[-4000:]
    found = re.search(r"Prefect's temporary server at http://127\.0\.0\.1:(\d+)/api", done.stderr)
    assert found, done.stderr[-4000:]
    # Prefect's log and event workers sent everything before the server stopped.
    for complaint in ("Error logging to API", "connection attempts failed", "Traceback"):
        assert complaint not in done.stderr, done.stderr[-4000:]
    assert "View at" not in done.stderr  # a link to a UI that is off, on a server now gone
    assert _closes_within(int(found.group(1)), 10.0), "the temporary server outlived the run"

    report_id = Path(json.loads(done.stdout.strip().splitlines()[-1])["report"]).name
    with sqlite3.connect(home / "prefect.db") as db:
        [(state,)] = db.execute("SELECT state_type FROM flow_run WHERE id = ?", (report_id,))
        task_runs = db.execute(
            "SELECT count(*) FROM task_run WHERE flow_run_id = ?", (report_id,)
        ).fetchone()[0]
    assert state == "COMPLETED"
    assert task_runs >= 2  # a chunk and the report: the ephemeral services recorded them


def test_the_temporary_server_ends_when_its_command_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves no exit handler to run: Linux ends the server with its parent."""
    code = (
        "import time\nfrom aepipe.runtime.api import TemporaryServer\n"
        "server = TemporaryServer()\nprint(server.port, flush=True)\n"
        f"server.wait_until_healthy({SERVER_START_S})\nprint('healthy', flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code],
        env=_bare_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        port = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "healthy"
        assert _listening(port)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _closes_within(port, 15.0), "the temporary server outlived its killed parent"


def test_ctrl_c_while_the_server_starts_ends_the_run_cleanly(tmp_path: Path) -> None:
    """SIGINT 2.5 s in: the server is still booting (a fresh home makes its database first),
    or on a fast machine the flow has begun; either way exit status 130, no traceback, and no
    process of this home left running."""
    import psutil

    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(source / "one.png")
    home = tmp_path / "home"
    command = [*CLI, "run", str(source), str(tmp_path / "out"), "--task", "identity"]
    run = subprocess.Popen(command, env=_bare_env(home), stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=RUN_TIMEOUT_S)
    assert run.returncode == 130, stderr[-4000:]
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr[-4000:]

    def of_this_home() -> list[int]:
        pids = []
        for process in psutil.process_iter():
            try:
                if process.environ().get("PREFECT_HOME") == str(home):
                    pids.append(process.pid)
            except psutil.Error:
                pass
        return pids

    deadline = time.monotonic() + 10.0
    while of_this_home() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert of_this_home() == []
