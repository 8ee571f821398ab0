"""Which Prefect API a command-line run reports to.

Without ``PREFECT_API_URL`` Prefect starts a temporary server for every flow run and stops it
afterwards: on a 2-core machine about 5 s to start and 1 s to stop, most of an ad-hoc run of a
few images (docs/benchmarks.md, "Start-up"). A server left running with ``prefect server start
--background`` is found here and reused instead: Prefect's PID file in ``PREFECT_HOME`` says
one was started, its health endpoint that it answers. An explicit ``PREFECT_API_URL`` always
wins; with neither, the temporary server runs as before, with its telemetry off (on a run it
only adds "database is locked" tracebacks: the run and the server write one SQLite file).
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Settings of a server an aepipe command causes to start; the environment's own value wins.
QUIET_SERVER = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
#: Written by ``prefect server start --background`` in ``PREFECT_HOME`` (Prefect's own name).
BACKGROUND_PID_FILE = "server.pid"
HEALTH_TIMEOUT_S = 1.0
#: Addresses a server binds to that a client reaches on loopback.
ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


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
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=HEALTH_TIMEOUT_S) as response:
            return url if response.status == 200 else None
    except OSError:  # refused, timed out, or an HTTP error status: not a server to use
        return None


@contextmanager
def prefect_api() -> Iterator[str | None]:
    """Within: flows report to the background server if one answers (its URL is yielded, and
    child processes inherit it), else where Prefect would send them (None is yielded)."""
    for name, value in QUIET_SERVER.items():
        os.environ.setdefault(name, value)
    url = background_server_url()
    if url is None:
        yield None
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        if previous is None:
            del os.environ["PREFECT_API_URL"]
        else:
            os.environ["PREFECT_API_URL"] = previous
