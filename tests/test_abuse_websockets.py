"""Hostile input, WebSocket half: oversized messages, invalid UTF-8 and JSON,
binary where text is expected, floods, and clients that vanish mid-message or
while the handler waits or sends.

WebSockets are ASGI only: each case runs in-process through the TestClient
(``asgi_client``) and against a real uvicorn, spoken to by the ``websockets``
client library, or frame by frame on a raw socket where that library would
refuse to send the abuse (invalid UTF-8, a message cut in half, a frame that
declares 2**62 bytes). Each case: the right close code, the handler's
``finally`` runs, no traceback in the server's log, the server still
answering, and (real server) RSS bounded after the big cases. Under WSGI a
WebSocket route answers a plain request with 426 (``make_client``).
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from abusekit import port_of, rss_kib
from server_apps import abuse_app
from server_apps.abuse_app import SMALL_MESSAGE, app
from serverkit import HOST, Server, Servers
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from dualweb import WebSocketDisconnect

SERVER_APP = "tests.server_apps.abuse_app:app"
WAIT = 10.0
MiB = 1024 * 1024
FLOOD = 10_000
RSS_GROWTH_LIMIT_KIB = 50 * 1024
TRACEBACK_MARKERS = ("Traceback", "Exception in", "Error in WebSocket")
# uvicorn's own log of a text frame that is not UTF-8 (its sans-IO implementation
# decodes the frame, catches the error, closes with 1007 and logs the traceback):
# the server's, not the app's, and it stays out of the client's sight.
UVICORN_UTF8_ERROR = re.compile(
    r"ERROR: +Invalid UTF-8 sequence received from client\.\n"
    r"Traceback \(most recent call last\):\n(?:[ ~^].*\n)+UnicodeDecodeError: .*\n"
)

#: (route, message, close code): a message the route must refuse by closing.
REFUSED = {
    "text-over-route-limit": ("/ws/small", "x" * (SMALL_MESSAGE + 1), 1009),
    "bytes-over-route-limit": ("/ws/small", b"x" * (SMALL_MESSAGE + 1), 1009),
    # Fewer characters than the limit, more UTF-8 bytes: the bytes count.
    "multibyte-text-over-route-limit": ("/ws/small", "€" * (SMALL_MESSAGE // 2), 1009),
    "bytes-over-default-limit": ("/ws/echo", b"x" * (MiB + 1), 1009),
    "text-over-default-limit": ("/ws/echo", "x" * (MiB + 1), 1009),
    "binary-to-text-only": ("/ws/text", b"hello", 1003),
    "invalid-json": ("/ws/json", "{not json", 1007),
    "json-bomb": ("/ws/json", "[" * 100_000, 1007),
    "json-nan": ("/ws/json", "[NaN]", 1007),
    "json-overflow": ("/ws/json", "1e999999", 1007),
    "json-lone-surrogate": ("/ws/json", '"\\ud800"', 1007),
    "json-invalid-utf8-in-binary": ("/ws/json", b'"\xff"', 1007),
    "json-100k-digit-int": ("/ws/json", "9" * 100_000, 1007),
}
BIG = ["bytes-over-default-limit", "text-over-default-limit", "json-bomb"]


def key() -> str:
    return uuid.uuid4().hex


# -- in-process (TestClient) --------------------------------------------------------------


@pytest.mark.parametrize(("path", "message", "code"), REFUSED.values(), ids=REFUSED.keys())
def test_refused_message_closes_with_its_code(asgi_client, path: str, message: Any, code: int):
    client = asgi_client(app)
    with client.websocket_connect(path) as ws:
        if isinstance(message, str):
            ws.send_text(message)
        else:
            ws.send_bytes(message)
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive()
    assert info.value.code == code
    with client.websocket_connect("/ws/echo") as ws:  # still serving
        ws.send_text("again")
        assert ws.receive_text() == "again"


def test_message_at_the_limit_is_accepted(asgi_client) -> None:
    client = asgi_client(app)
    with client.websocket_connect("/ws/small") as ws:
        ws.send_text("€" * (SMALL_MESSAGE // 3))  # 1023 bytes
        assert ws.receive_text() == str(SMALL_MESSAGE // 3)
        ws.send_bytes(b"x" * SMALL_MESSAGE)
        assert ws.receive_text() == str(SMALL_MESSAGE)


def test_flood_of_small_messages_all_arrive_in_order(asgi_client) -> None:
    client = asgi_client(app)
    name = key()
    with client.websocket_connect(f"/ws/count/{name}") as ws:
        for number in range(FLOOD):
            ws.send_text(str(number))
    assert abuse_app.seen[name] == {"received": FLOOD, "code": 1000, "finally": True}


@pytest.mark.parametrize("route", ["hold", "sleep", "firehose"])
def test_client_leaving_mid_handler_runs_its_finally(asgi_client, route: str) -> None:
    """The client closes while the handler waits for a message, sleeps, or sends."""
    client = asgi_client(app)
    name = key()
    with client.websocket_connect(f"/ws/{route}/{name}") as ws:
        first = ws.receive()
        assert first == "ready" if route != "firehose" else len(first) == 4096
    seen = abuse_app.seen[name]
    assert seen["finally"] is True
    assert seen["ended"] == "disconnect"


def test_plain_http_request_to_a_websocket_route_is_426(make_client) -> None:
    client = make_client(app)
    response = client.get("/ws/echo")
    assert response.status_code == 426
    assert "Traceback" not in response.text
    assert client.get("/").text == "ok"


# -- against a real uvicorn ------------------------------------------------------------------


@pytest.fixture
def server(servers: Servers) -> Iterator[Server]:
    running = servers.get("uvicorn", SERVER_APP)
    start = len(running.log())
    yield running
    log = UVICORN_UTF8_ERROR.sub("", running.log()[start:])
    found = [marker for marker in TRACEBACK_MARKERS if marker in log]
    assert not found, f"{found} in the log of {running.describe()}"
    assert_still_answering(running)


def assert_still_answering(server: Server) -> None:
    with server.client() as client:
        assert client.get("/").text == "ok"
    with open_ws(server, "/ws/echo") as ws:
        ws.send("still here")
        assert ws.recv(timeout=WAIT) == "still here"


def open_ws(server: Server, path: str, **options: Any) -> ClientConnection:
    url = server.url.replace("http://", "ws://", 1) + path
    # max_size=None: the client must be able to send (and take) what the test sends.
    options = {"open_timeout": WAIT, "close_timeout": WAIT, "max_size": None, **options}
    return connect(url, proxy=None, **options)


def close_code_after(server: Server, path: str, message: str | bytes) -> int | None:
    with open_ws(server, path) as ws:
        ws.send(message)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=WAIT)
    return info.value.rcvd.code if info.value.rcvd is not None else None


def wait_for_seen(server: Server, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    with server.client() as client:
        while True:
            seen: dict[str, Any] = client.get(f"/seen/{name}").json()
            if seen.get("finally"):
                return seen
            assert time.monotonic() < deadline, f"handler did not end: {server.describe()}"
            time.sleep(0.05)


@pytest.mark.servers
@pytest.mark.parametrize(("path", "message", "code"), REFUSED.values(), ids=REFUSED.keys())
def test_refused_message_closes_with_its_code_on_uvicorn(
    server: Server, path: str, message: Any, code: int
) -> None:
    assert close_code_after(server, path, message) == code


@pytest.mark.servers
def test_flood_of_small_messages_on_uvicorn(server: Server) -> None:
    name = key()
    with open_ws(server, f"/ws/count/{name}") as ws:
        for number in range(FLOOD):
            ws.send(str(number))
    assert wait_for_seen(server, name) == {"received": FLOOD, "code": 1000, "finally": True}


@pytest.mark.servers
@pytest.mark.parametrize("route", ["hold", "sleep", "firehose"])
def test_client_vanishing_mid_handler_on_uvicorn(server: Server, route: str) -> None:
    """The TCP connection ends without a close frame while the handler waits, sleeps or
    sends: the handler sees a disconnect and its finally runs."""
    name = key()
    with RawWebSocket(server, f"/ws/{route}/{name}") as ws:
        ws.read_frame()  # "ready", or the first of the firehose
    seen = wait_for_seen(server, name)
    assert seen["ended"] == "disconnect"


# -- raw frames (RFC 6455 §5.2) ---------------------------------------------------------------


class RawWebSocket:
    """A client that writes frames byte by byte, valid or not."""

    def __init__(self, server: Server, path: str) -> None:
        self.sock = socket.create_connection((HOST, port_of(server)), timeout=WAIT)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "the server closed the connection during the handshake"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head

    def __enter__(self) -> RawWebSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, declared: int | None = None
    ) -> None:
        """A masked frame (clients must mask, §5.3); ``declared`` overrides the length field."""
        length = len(payload) if declared is None else declared
        header = bytes([(0x80 if fin else 0) | opcode])
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        return first & 0x0F, self._read(length)

    def close_code(self) -> int:
        """Read frames until the server's close frame; its code."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])


TEXT, BINARY, CONTINUATION = 0x1, 0x2, 0x0


@pytest.mark.servers
@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"caf\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"ok \xf4\x90\x80\x80"],
    ids=["ff", "truncated", "encoded-surrogate", "overlong", "above-u10ffff"],
)
def test_invalid_utf8_text_frame_closes_with_1007_on_uvicorn(server: Server, payload: bytes):
    """uvicorn's WebSocket implementation checks the UTF-8 itself (RFC 6455 §8.1)."""
    with RawWebSocket(server, "/ws/echo") as ws:
        ws.send_frame(TEXT, payload)
        assert ws.close_code() == 1007


@pytest.mark.servers
def test_invalid_utf8_split_across_fragments_closes_with_1007_on_uvicorn(server: Server):
    with RawWebSocket(server, "/ws/echo") as ws:
        ws.send_frame(TEXT, b"caf\xc3", fin=False)
        ws.send_frame(CONTINUATION, b"\x28")  # not a continuation byte
        assert ws.close_code() == 1007


@pytest.mark.servers
def test_frame_declaring_a_huge_length_closes_with_1009_on_uvicorn(server: Server):
    """The header alone says 2**62 bytes: refused before any is read (uvicorn's ws_max_size)."""
    with RawWebSocket(server, "/ws/echo") as ws:
        ws.send_frame(BINARY, b"", declared=1 << 62)
        assert ws.close_code() == 1009


@pytest.mark.servers
def test_client_vanishing_mid_message_on_uvicorn(server: Server) -> None:
    """The first fragment of a message, then the TCP connection ends: the handler, still
    waiting for the message, sees a disconnect."""
    name = key()
    with RawWebSocket(server, f"/ws/hold/{name}") as ws:
        assert ws.read_frame() == (TEXT, b"ready")
        ws.send_frame(TEXT, b"half a mess", fin=False)
        # And half a frame: a header announcing more than is sent.
        ws.send_frame(CONTINUATION, b"age", declared=1000)
    seen = wait_for_seen(server, name)
    assert seen["ended"] == "disconnect"


@pytest.mark.servers
def test_big_cases_keep_memory_bounded_on_uvicorn(server: Server) -> None:
    with server.client() as client:
        pid = client.get("/pid").json()["pid"]

    def round_of_abuse() -> None:
        for case in BIG:
            path, message, code = REFUSED[case]
            assert close_code_after(server, path, message) == code

    round_of_abuse()
    before = rss_kib(pid)
    for _ in range(3):
        round_of_abuse()
    after = rss_kib(pid)
    assert after - before < RSS_GROWTH_LIMIT_KIB, (before, after)
