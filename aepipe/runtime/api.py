"""Which Prefect API a command-line run reports to, and the temporary server when there is none.

Without ``PREFECT_API_URL`` Prefect starts a temporary server when a flow run first calls its
API, so the command's imports and the server's start come one after the other: about 10 s of
an ad-hoc run of one small image on a 2-core machine (docs/benchmarks.md, "Start-up"). The
order here is cheaper:

1. an explicit ``PREFECT_API_URL`` wins;
2. a server left running with ``prefect server start --background`` is reused: Prefect's PID
   file in ``PREFECT_HOME`` says one was started, its health endpoint that it answers;
3. else aepipe starts Prefect's temporary server itself, *first*, the way Prefect would
   (``SubprocessASGIServer``: the API app under uvicorn, UI off, the ephemeral services on),
   lets the command import what it needs while the server boots in its own process, waits
   for its health and points ``PREFECT_API_URL`` at it; the server stops when the process
   exits.

Servers an aepipe command starts have their telemetry off (on a run it only adds "database is
locked" tracebacks: the run and the server write one SQLite file).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aepipe.errors import AepipeError

#: Settings of a server an aepipe command causes to start; the environment's own value wins.
QUIET_SERVER = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
#: Written by ``prefect server start --background`` in ``PREFECT_HOME`` (Prefect's own name).
BACKGROUND_PID_FILE = "server.pid"
HEALTH_TIMEOUT_S = 1.0
#: Addresses a server binds to that a client reaches on loopback.
ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1"}
#: How Prefect 3.9's ``SubprocessASGIServer`` runs its temporary server: these variables make
#: ``create_app`` build the ephemeral app (no UI; the task-run recorder and event services on).
TEMPORARY_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
HEALTH_POLL_S = 0.05
PR_SET_PDEATHSIG = 1  # prctl(2)
STOP_TIMEOUT_S = 5.0


class ServerStartError(AepipeError):
    """The temporary Prefect server did not answer in time, or exited."""


@dataclass(frozen=True)
class FlowApi:
    """Where a command's flows report: ``url`` None means wherever Prefect sends them."""

    url: str | None
    kind: Literal["configured", "background", "temporary"]

    def describe(self) -> str | None:
        """The line a command prints about its API, None when there is nothing to say."""
        if self.kind == "background":
            return f"reporting to the background Prefect server at {self.url}"
        if self.kind == "temporary":
            return (
                f"reporting to Prefect's temporary server at {self.url}, started for this "
                "command (`prefect server start --background` once: later runs reuse it)"
            )
        return None


def background_server_url() -> str | None:
    """The API URL of a healthy ``prefect server start --background`` of this ``PREFECT_HOME``,
    at the configured host and port; None when ``PREFECT_API_URL`` is set or none answers."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not (Path(settings.home) / BACKGROUND_PID_FILE).exists():
        return None
    host = ANY_ADDRESS.get(settings.server.api.host, settings.server.api.host)
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{settings.server.api.port}/api"
    return url if answers_health(url) else None


def answers_health(url: str) -> bool:
    """Whether the Prefect API at ``url`` (ending in ``/api``) says it is healthy now."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=HEALTH_TIMEOUT_S) as response:
            return bool(response.status == 200)
    except OSError:  # refused, timed out, or an HTTP error status: not a server to use
        return False


class TemporaryServer:
    """Prefect's temporary API server in a process of its own, on a free loopback port."""

    def __init__(self) -> None:
        from prefect.settings import get_current_settings

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        env = {
            **os.environ,
            **TEMPORARY_SERVER_ENV,
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        command = [sys.executable, "-m", "uvicorn", "--factory"]
        command += ["prefect.server.api.server:create_app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        ends_with_parent = _end_with_parent if sys.platform == "linux" else None
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, preexec_fn=ends_with_parent
        )

    def wait_until_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not answers_health(self.url):
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"Prefect's temporary server exited with status {self.process.returncode} "
                    "before it answered (set PREFECT_API_URL to use a running server instead)"
                )
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"Prefect's temporary server did not answer within {timeout_s:.0f} s "
                    "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
                )
            time.sleep(HEALTH_POLL_S)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _end_with_parent() -> None:
    """In the server's process before it runs: Linux sends it SIGTERM when aepipe's process
    ends, however it ends (Prefect ends a run stopped by SIGTERM with the signal itself).
    Elsewhere the exit handler alone stops it."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def prefect_api(meanwhile: Callable[[], object] = lambda: None) -> Iterator[FlowApi]:
    """Within: flows report to the API chosen as the module docstring says; child processes
    inherit its URL. ``meanwhile`` runs while a temporary server starts (or at once)."""
    for name, value in QUIET_SERVER.items():
        os.environ.setdefault(name, value)
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        meanwhile()  # Prefect's own rules: the configured API, or its error without one
        yield FlowApi(settings.api.url, "configured")
        return
    url = background_server_url()
    if url is not None:
        meanwhile()
        with _settings({"PREFECT_API_URL": url}):
            yield FlowApi(url, "background")
        return
    server = _temporary_server()
    meanwhile()
    server.wait_until_healthy(settings.server.ephemeral.startup_timeout_seconds)
    # It serves no UI and ends with the command: no "View at <link>" lines that lead nowhere.
    with _settings({"PREFECT_API_URL": server.url, "PREFECT_UI_URL": ""}):
        yield FlowApi(server.url, "temporary")


_started: list[TemporaryServer] = []  # this process's temporary server, once started


def _temporary_server() -> TemporaryServer:
    """One per process, as Prefect keeps its own: a later command in the same process (a
    notebook, a test) reuses it. It stops at exit, after Prefect's log and event workers
    (registered later, so run earlier) have sent what they hold."""
    if not _started or _started[0].process.poll() is not None:
        _started[:] = [TemporaryServer()]
        atexit.register(_started[0].stop)
    return _started[0]


@contextmanager
def _settings(values: dict[str, str]) -> Iterator[None]:
    """Prefect settings by their variables' names, in the settings and in the environment (so
    child processes see them too), restored after the block."""
    import prefect.settings

    updates = {getattr(prefect.settings, name): value for name, value in values.items()}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        with prefect.settings.temporary_settings(updates=updates):
            yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
