"""A fault-injecting HTTP proxy for tests: a real S3 server behind, a misbehaving network between.

    client ──► FaultProxy (127.0.0.1, a thread with its own event loop) ──► S3 server

It forwards HTTP/1.1 requests one by one (keep-alive, Content-Length or chunked bodies) and,
while a fault is armed, spoils the requests it matches:

    reset_request   the connection is reset before the request reaches the server
    reset_response  the server answers, the client gets the headers and part of the body, reset
    truncate        the server answers, the body is cut short and the connection closed
    status          the proxy answers itself: 503 SlowDown (or any status) with S3's XML body
    corrupt_body    one byte of the request body is flipped before it is forwarded
    delay           the request is held ``seconds`` before it is forwarded
    down            every connection is reset at once, as if the server were gone

A fault matches a method (GET, PUT, ...) and a path substring, for ``count`` requests or until
``until`` (``time.monotonic()``). Every request is recorded (method, path, headers, the
response status, the fault applied), so a test can assert what really went over the wire.
Loopback only; nothing here opens a socket anywhere else.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

KINDS = ("reset_request", "reset_response", "truncate", "status", "corrupt_body", "delay", "down")
_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


@dataclass
class Fault:
    kind: str
    method: str | None = None  # None: any method
    path: str = ""  # substring of the request path; "": any path
    count: int | None = 1  # requests it spoils; None: until ``until`` (or cleared)
    until: float | None = None  # time.monotonic() deadline
    status: int = 503
    seconds: float = 1.0  # delay

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; choose from {', '.join(KINDS)}")

    def matches(self, method: str, path: str) -> bool:
        if self.until is not None and time.monotonic() > self.until:
            return False
        if self.count is not None and self.count <= 0:
            return False
        return (self.method in (None, method)) and self.path in path


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    status: int | None = None  # None: the client got no complete answer
    fault: str | None = None


@dataclass
class _Request:
    line: bytes
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes

    @property
    def method(self) -> str:
        return self.line.split(b" ", 1)[0].decode()

    @property
    def path(self) -> str:
        return self.line.split(b" ")[1].decode(errors="replace")


@dataclass
class FaultProxy:
    """``with FaultProxy(host, port) as proxy:`` then point the client at ``proxy.url``."""

    upstream_host: str
    upstream_port: int
    exchanges: list[Exchange] = field(default_factory=list)
    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _shutdown(self) -> None:
        """Stop listening and end every connection, so the loop closes with nothing pending."""
        if self._server is not None:
            self._server.close()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def arm(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @contextmanager
    def armed(self, fault: Fault) -> Iterator[Fault]:
        self.arm(fault)
        try:
            yield fault
        finally:
            with self._lock:
                if fault in self._faults:
                    self._faults.remove(fault)

    def _take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching this request, its count spent."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.count is not None:
                        fault.count -= 1
                    return fault
        return None

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []  # opened lazily
        try:
            while (request := await _read_request(reader, writer)) is not None:
                if not await self._exchange(request, writer, upstream):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, OSError, asyncio.CancelledError):
            pass
        finally:
            for _, upstream_writer in upstream:
                upstream_writer.close()
            if not writer.is_closing():
                writer.close()

    async def _exchange(
        self,
        request: _Request,
        writer: asyncio.StreamWriter,
        upstream: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    ) -> bool:
        """Serve one request, spoiled by the fault it matches; False: the connection is over."""
        fault = self._take(request.method, request.path)
        kind = fault.kind if fault else None
        exchange = Exchange(request.method, request.path, dict(request.headers), fault=kind)
        self.exchanges.append(exchange)
        if kind in ("down", "reset_request"):
            _reset(writer)
            return False
        if fault and kind == "status":
            exchange.status = fault.status
            writer.write(_error_response(fault.status))
            await writer.drain()
            return True
        if fault and kind == "delay":
            await asyncio.sleep(fault.seconds)
        if kind == "corrupt_body" and request.body:
            request.body = bytes([request.body[0] ^ 0xFF]) + request.body[1:]
        if not upstream:
            upstream.append(await asyncio.open_connection(self.upstream_host, self.upstream_port))
        upstream_reader, upstream_writer = upstream[0]
        upstream_writer.write(request.raw_head + request.body)
        await upstream_writer.drain()
        head, body = await _read_response(upstream_reader, request.method)
        exchange.status = int(head.split(b" ", 2)[1])
        cut = kind in ("reset_response", "truncate")
        writer.write(head + (body[: len(body) // 2] if cut else body))
        await writer.drain()
        if kind == "reset_response":
            _reset(writer)
        elif kind == "truncate":
            writer.close()
        return not cut


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed peer or a dropped link looks."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _error_response(status: int) -> bytes:
    body = _SLOW_DOWN if status == 503 else b""
    reason = {503: "Slow Down", 500: "Internal Server Error"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            return None
        raise


def _headers(head: bytes) -> list[tuple[str, str]]:
    lines = head.split(b"\r\n")[1:]
    pairs = []
    for line in lines:
        if b":" in line:
            name, _, value = line.partition(b":")
            pairs.append((name.decode().strip().lower(), value.decode(errors="replace").strip()))
    return pairs


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    values = dict(headers)
    if values.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            body += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk
            if size == 0:
                return body
    length = int(values.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> _Request | None:
    """One request; ``Expect: 100-continue`` is answered here and not forwarded."""
    head = await _read_head(reader)
    if head is None:
        return None
    headers = _headers(head)
    if dict(headers).get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        kept = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"expect:")]
        head = b"\r\n".join(kept)
        headers = [(name, value) for name, value in headers if name != "expect"]
    body = await _read_body(reader, headers)
    return _Request(head.split(b"\r\n", 1)[0], headers, body, head)


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return head, b""
    return head, await _read_body(reader, _headers(head))
