"""Helpers of the hostile-input suites: raw requests over a socket, and the checks
every answer to hostile input must pass.

httpx refuses to send much of what an attacker sends (raw non-ASCII bytes in
the request target, CR or LF in a header), so the real-server tests write
the request bytes themselves.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field

from serverkit import HOST, REQUEST_TIMEOUT, Server

# What an error body must never show: a traceback, a source path, an exception's name.
_LEAKS = re.compile(rb"Traceback|/dualweb/|\.py\b|[A-Z][a-z]+(Error|Exception)\b")


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    head: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.getlist(name)
        return values[0] if values else None

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def raw_request(
    server: Server,
    target: bytes,
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    method: bytes = b"GET",
) -> RawResponse:
    """Send one HTTP/1.1 request exactly as given (``Connection: close``); read to EOF.

    A server that drops the connection without answering gives status 0.
    """
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + HOST.encode()]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"Connection: close")
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    with socket.create_connection((HOST, port_of(server)), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(data)
        return parse_response(receive_all(sock))


def receive_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    received = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return bytes(received)


def parse_response(data: bytes) -> RawResponse:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return RawResponse(0, body=data)
    status_line, *header_lines = head.split(b"\r\n")
    status = int(status_line.split(b" ")[1])
    headers = []
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").strip().lower(), value.decode("latin-1").strip()))
    if ("transfer-encoding", "chunked") in headers:
        body = _dechunk(body)
    return RawResponse(status, headers, body, head)


def _dechunk(data: bytes) -> bytes:
    body = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body += rest[:size]
        data = rest[size + 2 :]
    return bytes(body)


def assert_no_leak(body: bytes) -> None:
    """No traceback, source path or exception class name in a response body."""
    match = _LEAKS.search(body)
    assert match is None, f"internal detail in the body: {body[:300]!r}"


def assert_still_answering(server: Server) -> None:
    response = raw_request(server, b"/")
    assert (response.status, response.body) == (200, b"ok"), server.describe()


def worker_pid(server: Server) -> int:
    """The pid serving requests: uvicorn's own, or gunicorn's single worker."""
    pid = server.process.pid
    if not server.name.startswith("gunicorn"):
        return pid
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return int(children.read().split()[0])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")  # pragma: no cover


#: What a test may assume of the platform.
HAS_PROC = os.path.isdir("/proc/self")
