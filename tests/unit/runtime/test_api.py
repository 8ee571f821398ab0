"""Finding a background Prefect server to reuse, on a stand-in health endpoint on loopback."""

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from aepipe.runtime.api import (
    BACKGROUND_PID_FILE,
    ServerStartError,
    TemporaryServer,
    background_server_url,
    prefect_api,
)


class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def prefect_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A PREFECT_HOME with no API URL configured (whatever this machine's profile says)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings({PREFECT_HOME: str(tmp_path)}, restore_defaults={PREFECT_API_URL}):
        yield tmp_path


def serve_at(server: HTTPServer):  # the configured server address is this stand-in's
    from prefect.settings import (
        PREFECT_SERVER_API_HOST,
        PREFECT_SERVER_API_PORT,
        temporary_settings,
    )

    host, port = server.server_address[:2]
    return temporary_settings({PREFECT_SERVER_API_HOST: host, PREFECT_SERVER_API_PORT: port})


def test_a_background_server_that_answers_is_reused(prefect_home, health_server):
    (prefect_home / BACKGROUND_PID_FILE).write_text("12345")
    with serve_at(health_server):
        url = f"http://127.0.0.1:{health_server.server_address[1]}/api"
        assert background_server_url() == url
        with prefect_api() as used:
            from prefect.settings import get_current_settings

            assert used.url == url and used.kind == "background"
            assert get_current_settings().api.url == url
            assert os.environ["PREFECT_API_URL"] == url  # child processes see it too
        assert "PREFECT_API_URL" not in os.environ


def test_no_pid_file_means_no_background_server(prefect_home, health_server):
    with serve_at(health_server):
        assert background_server_url() is None


def test_a_stale_pid_file_or_an_unhealthy_server_is_not_used(prefect_home, health_server):
    (prefect_home / BACKGROUND_PID_FILE).write_text("12345")
    Health.status = 503
    try:
        with serve_at(health_server):
            assert background_server_url() is None
    finally:
        Health.status = 200
    health_server.shutdown()
    health_server.server_close()  # nothing listens there now
    with serve_at(health_server):
        assert background_server_url() is None


def test_an_explicit_api_url_wins(prefect_home, health_server):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    (prefect_home / BACKGROUND_PID_FILE).write_text("12345")
    with serve_at(health_server), temporary_settings({PREFECT_API_URL: "http://elsewhere/api"}):
        assert background_server_url() is None
        with prefect_api() as used:
            assert used.url == "http://elsewhere/api" and used.kind == "configured"


def test_a_temporary_server_that_does_not_answer_in_time_is_a_clear_error(prefect_home):
    server = TemporaryServer()
    try:
        with pytest.raises(ServerStartError, match="did not answer within 0 s"):
            server.wait_until_healthy(0.0)
    finally:
        server.stop()
    assert server.process.returncode is not None
