"""WebSockets under real servers, spoken to by a real client (the ``websockets`` package).

uvicorn, gunicorn's own ASGI worker and granian run
``tests/server_apps/websockets_app.py``; where the servers differ (the denial
extension, close reasons, the code of a lost connection) each one's
behaviour is spelled out. A WSGI server (gunicorn's sync worker) must
refuse the upgrade with 426.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from examplekit import UPGRADE_HEADERS, WSGI_426_TEXT
from serverkit import HOST, Server, Servers
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.servers

APP = "tests.server_apps.websockets_app:app"
ASGI_SERVERS = ["uvicorn", "gunicorn-asgi", "granian-asgi"]
WAIT = 10.0
SMALL_LIMIT = 1024  # the /small route's max_message_size
# Signs that the app (or the server around it) failed somewhere.
TRACEBACK_MARKERS = ("Traceback", "Exception in", "Error in WebSocket")
# Whether the server passes the reason of the client's close frame on (ASGI >= 2.3).
PASSES_CLOSE_REASON = {"uvicorn": True, "gunicorn-asgi": False, "granian-asgi": False}
# The code the server reports for a connection lost without a close frame.
LOST_CONNECTION_CODE = {"uvicorn": 1005, "gunicorn-asgi": 1006, "granian-asgi": 1005}
# Whether the server offers the websocket.http.response extension (deny with any status).
DENIAL_EXTENSION = {"uvicorn": True, "gunicorn-asgi": False, "granian-asgi": True}
# What a send to a client that has left does: granian drops the message
# without a word (the app learns at its next receive).
LATE_SEND: dict[str, dict[str, Any]] = {
    "uvicorn": {"error": "WebSocketDisconnect", "code": 1006},
    "gunicorn-asgi": {"error": "WebSocketDisconnect", "code": 1006},
    "granian-asgi": {"error": None},
}
# Whether the server sends the headers given with websocket.accept.
SENDS_ACCEPT_HEADERS = {"uvicorn": True, "gunicorn-asgi": True, "granian-asgi": False}
ASGI_426_TEXT = "This path takes WebSocket connections only"


def ws_url(server: Server, path: str) -> str:
    return server.url.replace("http://", "ws://", 1) + path


def open_ws(server: Server, path: str, **options: Any) -> ClientConnection:
    # proxy=None: never go through a proxy from the environment.
    options = {"open_timeout": WAIT, "close_timeout": WAIT, **options}
    return connect(ws_url(server, path), proxy=None, **options)


def rejection(server: Server, path: str) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info, open_ws(server, path):
        pass
    return info.value


def assert_clean_log(server: Server, since: int = 0) -> None:
    """No traceback in the server's output (from offset ``since`` on)."""
    log = server.log()[since:]
    found = [marker for marker in TRACEBACK_MARKERS if marker in log]
    assert not found, f"{found} in the log of {server.describe()}"


@pytest.fixture(params=ASGI_SERVERS)
def server(request: pytest.FixtureRequest, servers: Servers) -> Iterator[Server]:
    """An ASGI server running the app; what the test made it log must show no traceback."""
    running = servers.get(request.param, APP)
    start = len(running.log())
    yield running
    assert_clean_log(running, start)


def test_text_and_bytes_are_echoed(server: Server) -> None:
    with open_ws(server, "/echo") as ws:
        ws.send("héllo")
        assert ws.recv(timeout=WAIT) == "héllo"
        ws.send(b"\x00\xffbytes")
        assert ws.recv(timeout=WAIT) == b"\x00\xffbytes"
        ws.send("")
        assert ws.recv(timeout=WAIT) == ""


def test_uvicorn_worker_for_gunicorn_echoes(servers: Servers) -> None:
    worker = servers.get("gunicorn-uvicorn-worker", APP)
    with open_ws(worker, "/echo") as ws:
        ws.send("over the uvicorn worker")
        assert ws.recv(timeout=WAIT) == "over the uvicorn worker"
    assert rejection(worker, "/reject").response.status_code == 403
    assert rejection(worker, "/deny").response.status_code == 401  # uvicorn's denial extension
    assert_clean_log(worker)


def test_json_is_echoed_from_text_and_bytes_frames(server: Server) -> None:
    with open_ws(server, "/json") as ws:
        ws.send('{"a": [1, 2.5, null], "b": "ü"}')
        assert ws.recv(timeout=WAIT) == '{"echo":{"a":[1,2.5,null],"b":"ü"}}'
        ws.send(b'{"from": "bytes"}')
        assert ws.recv(timeout=WAIT) == '{"echo":{"from":"bytes"}}'


def test_invalid_json_closes_with_1007(server: Server) -> None:
    with open_ws(server, "/json") as ws:
        ws.send("{not json")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=WAIT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1007


def test_close_code_and_reason_from_the_app_reach_the_client(server: Server) -> None:
    with (
        open_ws(server, "/close-with/4000?reason=see+you") as ws,
        pytest.raises(ConnectionClosed) as info,
    ):
        ws.recv(timeout=WAIT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "see you")


def test_close_code_from_the_client_reaches_the_app(server: Server) -> None:
    key = uuid.uuid4().hex
    with open_ws(server, f"/record/{key}") as ws:
        assert ws.recv(timeout=WAIT) == "ready"
        ws.close(4001, "bye")
    seen = wait_for_seen(server, key)
    reason = "bye" if PASSES_CLOSE_REASON[server.name] else ""
    assert seen == {"code": 4001, "reason": reason}, server.describe()


def test_client_that_vanishes_is_a_disconnect_for_the_app(server: Server) -> None:
    key = uuid.uuid4().hex
    # A handshake by hand, then the TCP connection just ends: no close frame.
    port = int(server.url.rpartition(":")[2])
    with socket.create_connection((HOST, port), timeout=WAIT) as sock:
        request = f"GET /record/{key} HTTP/1.1\r\nHost: {HOST}:{port}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in UPGRADE_HEADERS.items()
        )
        sock.sendall(request.encode() + b"\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "the server closed the connection during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101 "), head
    code = LOST_CONNECTION_CODE[server.name]
    assert wait_for_seen(server, key)["code"] == code, server.describe()


def test_sending_to_a_client_that_left_is_a_disconnect(server: Server) -> None:
    # The client closes while the handler waits for something else (as a
    # chat member's handler does while another one broadcasts). Servers that
    # wait for the app before ending the connection would hold the client's
    # close for close_timeout: one second is enough.
    key = uuid.uuid4().hex
    with open_ws(server, f"/late-send/{key}", close_timeout=1) as ws:
        assert ws.recv(timeout=WAIT) == "ready"
    with server.client() as client:
        assert client.get(f"/go/{key}").text == "ok"
    expected = LATE_SEND[server.name]
    assert wait_for_seen(server, key) == expected, server.describe()


def wait_for_seen(server: Server, key: str) -> dict[str, Any]:
    """What the app recorded for ``key``, polled for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    with server.client() as client:
        while True:
            seen: dict[str, Any] = client.get(f"/seen/{key}").json()
            if seen:
                return seen
            assert time.monotonic() < deadline, f"the app saw no disconnect: {server.describe()}"
            time.sleep(0.05)


def test_close_before_accept_is_an_http_403(server: Server) -> None:
    assert rejection(server, "/reject").response.status_code == 403


def test_deny_answers_with_the_status_where_the_server_can(server: Server) -> None:
    response = rejection(server, "/deny").response
    if DENIAL_EXTENSION[server.name]:
        assert response.status_code == 401
        assert response.body == b"Who are you?"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    else:
        # Without the extension the app closes with 1008 instead.
        assert response.status_code == 403


def test_http_exception_before_accept_denies(server: Server) -> None:
    response = rejection(server, "/forbidden").response
    assert response.status_code == 403
    if DENIAL_EXTENSION[server.name]:
        assert response.body == b"No entry"


def test_one_megabyte_message_is_echoed_intact(server: Server) -> None:
    payload = os.urandom(1_000_000)
    with open_ws(server, "/echo") as ws:
        ws.send(payload)
        assert ws.recv(timeout=WAIT) == payload
        text = "dualweb ☃ " * 85_000  # 12 bytes of UTF-8 each: 1,020,000 bytes, under 1 MiB
        ws.send(text)
        assert ws.recv(timeout=WAIT) == text


def test_message_over_the_route_limit_closes_with_1009(server: Server) -> None:
    with open_ws(server, "/small") as ws:
        ws.send(b"x" * SMALL_LIMIT)
        assert ws.recv(timeout=WAIT) == b"x" * SMALL_LIMIT
        ws.send(b"x" * (SMALL_LIMIT + 1))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=WAIT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009
    assert wait_for_seen(server, "small")["code"] == 1009


def test_message_over_the_default_limit_closes_with_1009(server: Server) -> None:
    with open_ws(server, "/echo", max_size=None) as ws:
        ws.send(b"x" * (1024 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=WAIT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["chat.v1", "chat.v2"], "chat.v2"), (["chat.v1"], "chat.v1"), ([], None)],
)
def test_subprotocol_is_negotiated(server: Server, offered: list[str], chosen: str | None) -> None:
    with open_ws(server, "/subprotocol", subprotocols=offered or None) as ws:
        assert ws.subprotocol == chosen
        assert json.loads(ws.recv(timeout=WAIT)) == {"offered": offered, "chosen": chosen}


def test_socket_sees_the_connection_details(server: Server) -> None:
    with open_ws(server, "/info/ada?x=1&y=2") as ws:
        assert ws.response is not None
        if SENDS_ACCEPT_HEADERS[server.name]:
            assert ws.response.headers["x-greeting"] == "hello ada"
        assert json.loads(ws.recv(timeout=WAIT)) == {
            "name": "ada",
            "path": "/info/ada",
            "query": {"x": "1", "y": "2"},
            "scheme": "ws",
            "client_host": "127.0.0.1",
            "url_for": ws_url(server, "/info/x"),
        }


def test_handler_error_closes_with_1011_and_is_logged_once(servers: Servers) -> None:
    for name in ASGI_SERVERS:
        server = servers.get(name, APP)
        start = len(server.log())
        with open_ws(server, "/boom") as ws:
            assert ws.recv(timeout=WAIT) == "about to fail"
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=WAIT)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1011
        # dualweb logs the error before it closes; the server sees no exception.
        log = server.log()[start:]
        assert "Exception in WebSocket handler for /boom" in log, server.describe()
        assert "RuntimeError: boom" in log
        assert log.count("Traceback") == 1, server.describe()


CONNECTIONS = 100
MESSAGES = 100


async def converse(url: str, connection_id: int) -> list[str]:
    async with aconnect(url, proxy=None, open_timeout=WAIT, close_timeout=WAIT) as ws:
        for sequence in range(MESSAGES):
            await ws.send(f"{connection_id}:{sequence}")
        return [str(await ws.recv()) for _ in range(MESSAGES)]


async def converse_all(url: str) -> list[list[str]]:
    conversations = [converse(url, number) for number in range(CONNECTIONS)]
    return await asyncio.wait_for(asyncio.gather(*conversations), 60)


def test_concurrent_connections_lose_and_reorder_nothing(server: Server) -> None:
    received = asyncio.run(converse_all(ws_url(server, "/echo")))
    for connection_id, messages in enumerate(received):
        assert messages == [f"{connection_id}:{sequence}" for sequence in range(MESSAGES)]


def test_plain_http_request_to_a_websocket_route_gets_426(server: Server) -> None:
    with server.client() as client:
        response = client.get("/echo")
    assert response.status_code == 426
    assert response.text == ASGI_426_TEXT
    assert response.headers["upgrade"] == "websocket"


def test_wsgi_server_answers_an_upgrade_with_426(servers: Servers) -> None:
    wsgi = servers.get("gunicorn-sync", APP)
    status = rejection(wsgi, "/echo")
    assert status.response.status_code == 426, wsgi.describe()
    assert status.response.body == WSGI_426_TEXT.encode()
    with wsgi.client() as client:
        response = client.get("/echo", headers=UPGRADE_HEADERS)
    assert response.status_code == 426
    assert response.text == WSGI_426_TEXT
    with wsgi.client() as client:
        assert client.get("/").text == "ok"  # the worker serves on
    assert_clean_log(wsgi)


def test_wsgi_426_tells_the_client_that_the_connection_closes(servers: Servers) -> None:
    wsgi = servers.get("gunicorn-sync", APP)
    with wsgi.client() as client:
        response = client.get("/echo", headers=UPGRADE_HEADERS)
    assert response.status_code == 426
    assert response.headers["connection"] == "close"
