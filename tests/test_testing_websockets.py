"""The TestClient's WebSocket side: ``client.websocket_connect`` (ASGI only).

Most tests speak to small hand-written ASGI apps, so each protocol step the
client takes (scope, handshake, messages, closing) is checked on its own;
the last ones run dualweb's ``app.websocket`` routes. Every client here runs
with blockbuster on: the client must never block the app's loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

import dualweb.testing._asgi_transport
from dualweb import App, HTTPException, WebSocket, WebSocketClosed, WebSocketDisconnect
from dualweb.testing import TestClient, WebSocketRejected

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
ASGIFunction = Callable[[Scope, Receive, Send], Any]


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts, then sends back each message as it came, until the client leaves."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text"), **_bytes(message)})


def _bytes(message: dict[str, Any]) -> dict[str, Any]:
    return {"bytes": message["bytes"]} if message.get("bytes") is not None else {}


def accept_then(*messages: dict[str, Any]) -> ASGIFunction:
    """An app that accepts, sends ``messages``, then waits for the client to leave."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for message in messages:
            await send(message)
        while (await receive())["type"] != "websocket.disconnect":
            pass

    return app


def text(value: str) -> dict[str, Any]:
    return {"type": "websocket.send", "text": value}


def test_text_bytes_and_json_both_ways(asgi_client):
    with asgi_client(echo).websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
        ws.send_bytes(b"\x00\xff")
        assert ws.receive_bytes() == b"\x00\xff"
        ws.send_json({"name": "Zoë", "n": [1, 2]})
        assert ws.receive_text() == '{"name":"Zoë","n":[1,2]}'
        ws.send_json({"binary": True}, binary=True)
        assert ws.receive_bytes() == b'{"binary":true}'
        ws.send_json([1])
        assert ws.receive_json() == [1]
        ws.send_json([2], binary=True)
        assert ws.receive_json() == [2]
        ws.send_text("a")
        ws.send_bytes(b"b")
        assert ws.receive() == "a"
        assert ws.receive() == b"b"


def test_receiving_the_wrong_kind_of_message_is_a_type_error(asgi_client):
    with asgi_client(echo).websocket_connect("/ws") as ws:
        ws.send_bytes(b"raw")
        with pytest.raises(TypeError, match="expected a text message, got binary b'raw'"):
            ws.receive_text()
        ws.send_text("words")
        with pytest.raises(TypeError, match="expected a binary message, got text 'words'"):
            ws.receive_bytes()


def scope_reporter(seen: list[Any]) -> ASGIFunction:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        seen.append(scope)
        await send({"type": "websocket.accept"})
        await receive()

    return app


def test_scope_is_a_websocket_handshake(asgi_client):
    seen: list[Any] = []
    client = asgi_client(scope_reporter(seen), client=("10.1.2.3", 4567))
    with client.websocket_connect("/ws/caf%C3%A9%2Fbar", params={"x": "1", "y": "é"}):
        pass
    with client.websocket_connect("/ws?a=b"):
        pass
    connect, scope, _, scope_with_query = seen
    assert connect == {"type": "websocket.connect"}
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/ws/café/bar"
    assert scope["raw_path"] == b"/ws/caf%C3%A9%2Fbar"
    assert scope["query_string"] == b"x=1&y=%C3%A9"
    assert scope_with_query["query_string"] == b"a=b"
    assert scope["root_path"] == ""
    assert scope["server"] == ("testserver", 80)
    assert scope["client"] == ("10.1.2.3", 4567)
    assert scope["subprotocols"] == []
    assert scope["extensions"] == {"websocket.http.response": {}}
    headers = dict(scope["headers"])
    assert len(headers) == len(scope["headers"])  # no name twice
    assert headers[b"host"] == b"testserver"
    assert headers[b"connection"] == b"upgrade"
    assert headers[b"upgrade"] == b"websocket"
    assert headers[b"sec-websocket-version"] == b"13"
    assert len(base64.b64decode(headers[b"sec-websocket-key"])) == 16
    assert b"sec-websocket-protocol" not in headers
    assert all(name == name.lower() for name in headers)


def test_secure_base_url_gives_wss(asgi_client):
    seen: list[Any] = []
    client = asgi_client(scope_reporter(seen), base_url="https://example.org")
    with client.websocket_connect("/ws"):
        pass
    scope = seen[1]
    assert (scope["scheme"], scope["server"]) == ("wss", ("example.org", 443))


def test_absolute_ws_url(asgi_client):
    seen: list[Any] = []
    with asgi_client(scope_reporter(seen)).websocket_connect("ws://chat.example:8080/room"):
        pass
    scope = seen[1]
    assert (scope["scheme"], scope["server"], scope["path"]) == (
        "ws",
        ("chat.example", 8080),
        "/room",
    )


def test_cookies_and_headers_reach_the_scope(asgi_client):
    seen: list[Any] = []
    client = asgi_client(scope_reporter(seen), headers={"X-Default": "d"})
    client.cookies.set("session", "s3cr3t")
    with client.websocket_connect("/ws", headers={"X-Token": "t", "Origin": "http://a.example"}):
        pass
    headers = dict(seen[1]["headers"])
    assert headers[b"cookie"] == b"session=s3cr3t"
    assert headers[b"x-token"] == b"t"
    assert headers[b"x-default"] == b"d"
    assert headers[b"origin"] == b"http://a.example"


def test_subprotocol_negotiation_and_accept_headers(asgi_client):
    offered: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        offered.append((scope["subprotocols"], dict(scope["headers"])[b"sec-websocket-protocol"]))
        await receive()
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": scope["subprotocols"][-1],
                "headers": [(b"x-room", b"lobby")],
            }
        )
        await receive()

    with asgi_client(app).websocket_connect("/ws", ["v2.chat", "v1.chat"]) as ws:
        assert ws.accepted_subprotocol == "v1.chat"
        assert ws.accepted_headers["X-Room"] == "lobby"
    assert offered == [(["v2.chat", "v1.chat"], b"v2.chat, v1.chat")]


def test_accept_without_subprotocol_or_headers(asgi_client):
    with asgi_client(echo).websocket_connect("/ws") as ws:
        assert ws.accepted_subprotocol is None
        assert list(ws.accepted_headers.items()) == []
        assert ws.close_code is None


def test_close_before_accept_is_a_rejection_with_its_code(asgi_client):
    after_close: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 4003, "reason": "no entry"})
        after_close.append(await receive())

    with pytest.raises(WebSocketRejected) as caught:
        asgi_client(app).websocket_connect("/ws")
    rejected = caught.value
    assert (rejected.code, rejected.reason, rejected.status) == (4003, "no entry", 403)
    assert (rejected.body, list(rejected.headers.items())) == (b"", [])
    assert str(rejected) == "the app refused the WebSocket, closing it with code 4003: no entry"
    # The client waited for the app, which learnt that the connection is over.
    assert after_close == [{"type": "websocket.disconnect", "code": 4003, "reason": "no entry"}]


def test_close_before_accept_without_code(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.close"})

    with pytest.raises(WebSocketRejected) as caught:
        asgi_client(app).websocket_connect("/ws")
    assert (caught.value.code, caught.value.reason) == (1000, "")
    assert str(caught.value) == "the app refused the WebSocket, closing it with code 1000"


def test_denial_response_is_a_rejection_with_status_headers_and_body(asgi_client):
    after_denial: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"log ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"in first"})
        after_denial.append((await receive())["type"])

    with pytest.raises(WebSocketRejected) as caught:
        asgi_client(app).websocket_connect("/ws")
    rejected = caught.value
    assert (rejected.code, rejected.status, rejected.body) == (None, 401, b"log in first")
    assert rejected.headers["WWW-Authenticate"] == "Bearer"
    assert str(rejected) == "the app refused the WebSocket with an HTTP 401 response"
    assert after_denial == ["websocket.disconnect"]


def test_denial_response_without_its_end_is_an_error(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.http.response.start", "status": 403, "headers": []})

    with pytest.raises(RuntimeError, match="returned before the end of its denial response"):
        asgi_client(app).websocket_connect("/ws")


def test_app_raising_before_accept_raises_in_the_test(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise LookupError("no such room")

    with pytest.raises(LookupError, match="no such room"):
        asgi_client(app).websocket_connect("/ws")


def test_app_raising_after_refusing_raises_in_the_test(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.close", "code": 1008})
        raise LookupError("in the cleanup")

    # The app's bug is what the test must see; the refusal is its context.
    with pytest.raises(LookupError, match="in the cleanup") as caught:
        asgi_client(app).websocket_connect("/ws")
    assert isinstance(caught.value.__context__, WebSocketRejected)


def test_app_returning_without_answering_the_handshake_is_an_error(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with pytest.raises(RuntimeError, match="returned without accepting or refusing"):
        asgi_client(app).websocket_connect("/ws")


def test_app_closing_raises_websocket_disconnect_with_code_and_reason(asgi_client):
    after_close: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send(text("last words"))
        await send({"type": "websocket.close", "code": 4001, "reason": "kicked"})
        # Closing again is allowed and does nothing.
        await send({"type": "websocket.close", "code": 1000})
        after_close.append(await receive())
        try:
            await send(text("too late"))
        except OSError as exc:  # ASGI 2.4: sending on a closed connection
            after_close.append(str(exc))

    with asgi_client(app).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "last words"
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive_text()
        assert (caught.value.code, caught.value.reason) == (4001, "kicked")
        assert (ws.close_code, ws.close_reason) == (4001, "kicked")
        # Asked again: the same answer, no wait.
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive()
        assert caught.value.code == 4001
        with pytest.raises(WebSocketClosed, match="the app closed"):
            ws.send_text("anyone?")
    assert after_close == [
        {"type": "websocket.disconnect", "code": 4001, "reason": "kicked"},
        "'websocket.send' on a closed WebSocket",
    ]


def test_app_returning_without_closing_is_an_abnormal_closure(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send(text("bye"))

    with asgi_client(app).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "bye"
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive_text()
        assert caught.value.code == 1006
        assert ws.close_code == 1006


def test_app_raising_after_accept_raises_on_receive(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise ZeroDivisionError("bug in the handler")

    with asgi_client(app).websocket_connect("/ws") as ws:
        ws.send_text("go")
        with pytest.raises(ZeroDivisionError, match="bug in the handler"):
            ws.receive_text()
        # Raised once; afterwards the connection is over, as after a server's 1011.
        assert ws.close_code == 1011
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive_text()
        assert caught.value.code == 1011


def test_app_raising_unseen_raises_when_the_block_ends(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        raise ZeroDivisionError(f"choked on {message['text']!r}")

    client = asgi_client(app)
    # The app's error reaches the test when the block ends.
    with (
        pytest.raises(ZeroDivisionError, match="choked on 'go'"),
        client.websocket_connect("/ws") as ws,
    ):
        ws.send_text("go")


def test_app_raising_while_the_test_closes_raises_from_close(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        raise ZeroDivisionError(f"on {message['type']}")

    ws = asgi_client(app).websocket_connect("/ws")
    with pytest.raises(ZeroDivisionError, match=r"on websocket\.disconnect"):
        ws.close()
    ws.close()  # already reported: closing again is quiet


def test_test_closing_sends_disconnect_with_code_and_reason(asgi_client):
    received: list[Any] = []
    finished = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            while True:
                message = await receive()
                received.append(message)
                if message["type"] == "websocket.disconnect":
                    break
            # Asked again after the disconnect: the same answer.
            received.append(await receive())
            try:
                await send(text("to nobody"))
            except OSError:
                received.append("send failed")
            await send({"type": "websocket.close"})  # nothing to close: ignored
        finally:
            finished.set()

    with asgi_client(app).websocket_connect("/ws") as ws:
        ws.send_text("one")
        ws.close(4000, "done here")
        # close() waited for the app to return.
        assert finished.is_set()
        assert (ws.close_code, ws.close_reason) == (4000, "done here")
        with pytest.raises(WebSocketClosed, match="the test closed"):
            ws.send_text("two")
        with pytest.raises(WebSocketClosed, match="the test closed"):
            ws.receive()
    disconnect = {"type": "websocket.disconnect", "code": 4000, "reason": "done here"}
    assert received == [
        {"type": "websocket.receive", "text": "one"},
        disconnect,
        disconnect,
        "send failed",
    ]


def test_leaving_the_block_disconnects_normally_and_waits_for_the_app(asgi_client):
    received: list[Any] = []
    finished = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            while (message := await receive())["type"] != "websocket.disconnect":
                received.append(message.get("text"))
            received.append(message["code"])
        finally:
            finished.set()

    with asgi_client(app).websocket_connect("/ws") as ws:
        # Sent but never answered: the app still gets them before the disconnect.
        ws.send_text("a")
        ws.send_text("b")
    assert finished.is_set()
    assert received == ["a", "b", 1000]


def test_app_ignoring_the_disconnect_is_cancelled(asgi_client, monkeypatch):
    monkeypatch.setattr(dualweb.testing._asgi_transport, "_DISCONNECT_GRACE", 0.05)
    cancelled = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await asyncio.Event().wait()  # never reads again
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with asgi_client(app).websocket_connect("/ws"):
        pass
    assert cancelled.wait(timeout=5)


def test_iteration_ends_when_the_app_closes_normally(asgi_client):
    for code in (1000, 1001):
        app = accept_then(text("a"), text("b"), {"type": "websocket.close", "code": code})
        with asgi_client(app).websocket_connect("/ws") as ws:
            assert list(ws) == ["a", "b"]
            assert ws.close_code == code


def test_iteration_raises_on_an_error_closure(asgi_client):
    app = accept_then(text("a"), {"type": "websocket.close", "code": 1011})
    with asgi_client(app).websocket_connect("/ws") as ws:
        messages: list[Any] = []
        with pytest.raises(WebSocketDisconnect) as caught:
            messages.extend(ws)
        assert messages == ["a"]
        assert caught.value.code == 1011


def test_receive_times_out_and_the_session_goes_on(asgi_client):
    with asgi_client(echo).websocket_connect("/ws", timeout=0.01) as ws:
        with pytest.raises(TimeoutError, match=r"no WebSocket message from the app within 0\.01"):
            ws.receive()
        with pytest.raises(TimeoutError, match="within 0 s"):
            ws.receive_text(timeout=0)
        ws.send_text("still here")
        assert ws.receive_text(timeout=5) == "still here"


def test_handshake_times_out_and_the_app_is_cancelled(asgi_client):
    cancelled = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            await asyncio.Event().wait()  # never answers the handshake
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match="neither accepted nor refused the WebSocket"):
        asgi_client(app).websocket_connect("/ws", timeout=0.01)
    assert cancelled.wait(timeout=5)


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        (
            [text("early")],
            RuntimeError,
            "unexpected ASGI message 'websocket.send' on a connecting",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.accept"}],
            RuntimeError,
            "'websocket.accept' on a open",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send"}],
            ValueError,
            "needs either text or bytes",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "a", "bytes": b""}],
            ValueError,
            "needs either text or bytes",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 403, "headers": []},
                {"type": "websocket.close"},
            ],
            RuntimeError,
            "'websocket.close' on a responding",
        ),
    ],
)
def test_protocol_violations_raise_in_the_app(asgi_client, messages, error, match):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        for message in messages:
            await send(message)

    client = asgi_client(app)
    with pytest.raises(error, match=match), client.websocket_connect("/ws") as ws:
        ws.receive()


def test_app_reading_in_another_task_sees_its_own_close(asgi_client):
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        reader = asyncio.ensure_future(receive())
        await asyncio.sleep(0)  # the reader is waiting now
        await send({"type": "websocket.close", "code": 1001})
        seen.append(await reader)

    with asgi_client(app).websocket_connect("/ws") as ws:
        assert list(ws) == []
    assert seen == [{"type": "websocket.disconnect", "code": 1001, "reason": ""}]


def test_closing_the_client_closes_its_open_sessions(asgi_client):
    received: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        received.append(await receive())

    client = asgi_client(app)
    ws = client.websocket_connect("/ws")  # never closed by the test
    client.close()
    assert received == [{"type": "websocket.disconnect", "code": 1000, "reason": ""}]
    with pytest.raises(WebSocketClosed):
        ws.send_text("after the client closed")


def test_websockets_need_the_asgi_interface():
    with (
        TestClient(echo, "wsgi") as client,
        pytest.raises(RuntimeError, match="WebSockets need the ASGI interface"),
    ):
        client.websocket_connect("/ws")


def test_http_requests_still_work_beside_websockets(asgi_client):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await echo(scope, receive, send)
            return
        body = json.dumps({"path": scope["path"], "server": scope["server"]}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    client = asgi_client(app, base_url="https://example.org")
    with client.websocket_connect("/ws") as ws:
        assert client.get("/page").json() == {"path": "/page", "server": ["example.org", 443]}
        ws.send_text("both")
        assert ws.receive_text() == "both"


# -- dualweb's own WebSocket routes -------------------------------------------------------


def chat_app() -> App:
    app = App(max_message_size=64)

    @app.websocket("/ws/{room}")
    async def chat(ws: WebSocket, room: str) -> None:
        if ws.query_params.get("token") != "ok":
            raise HTTPException(403, "bad token")
        if room == "closed":
            await ws.close(1008)
            return
        await ws.accept(
            subprotocol="chat" if "chat" in ws.subprotocols else None,
            headers={"X-Room": room},
        )
        await ws.send_json(
            {"room": room, "user": ws.cookies.get("user"), "ua": ws.headers["x-ua"]}
        )
        async for message in ws:
            if message == "bye":
                await ws.close(1000)
                return
            if message == "crash":
                raise ValueError("handler bug")
            await ws.send_text(f"{room}: {message!r}")

    return app


def test_app_websocket_route(asgi_client):
    client = asgi_client(chat_app(), cookies={"user": "ann"})
    url = "/ws/lobby?token=ok"
    with client.websocket_connect(url, ["chat"], headers={"X-UA": "tests"}) as ws:
        assert ws.accepted_subprotocol == "chat"
        assert ws.accepted_headers["x-room"] == "lobby"
        assert ws.receive_json() == {"room": "lobby", "user": "ann", "ua": "tests"}
        ws.send_text("hi")
        assert ws.receive_text() == "lobby: 'hi'"
        ws.send_bytes(b"hi")
        assert ws.receive_text() == "lobby: b'hi'"
        ws.send_text("bye")
        assert list(ws) == []
        assert ws.close_code == 1000


def test_app_websocket_refusals(asgi_client):
    client = asgi_client(chat_app())
    with pytest.raises(WebSocketRejected) as caught:
        client.websocket_connect("/ws/lobby?token=bad")
    assert (caught.value.status, caught.value.body) == (403, b"bad token")
    with pytest.raises(WebSocketRejected) as caught:
        client.websocket_connect("/ws/closed?token=ok")
    assert (caught.value.code, caught.value.status) == (1008, 403)
    with pytest.raises(WebSocketRejected) as caught:
        client.websocket_connect("/elsewhere")
    assert (caught.value.status, caught.value.body) == (404, b"Not Found")


def test_app_websocket_errors_close_the_connection(asgi_client, caplog):
    client = asgi_client(chat_app())
    with client.websocket_connect("/ws/lobby?token=ok", headers={"X-UA": "t"}) as ws:
        ws.receive_json()
        ws.send_text("x" * 65)
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive()
        assert caught.value.code == 1009
    with client.websocket_connect("/ws/lobby?token=ok", headers={"X-UA": "t"}) as ws:
        ws.receive_json()
        ws.send_text("crash")
        with pytest.raises(WebSocketDisconnect) as caught:
            list(ws)
        assert caught.value.code == 1011
    assert "handler bug" in caplog.text


def test_app_websocket_handler_sees_the_test_close(asgi_client):
    app = App()
    seen: list[Any] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            seen.append((exc.code, exc.reason))
            raise

    with asgi_client(app).websocket_connect("/ws") as ws:
        ws.close(4000, "leaving")
    assert seen == [(4000, "leaving")]


def test_app_websocket_under_wsgi_is_426(make_client, interface):
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:  # pragma: no cover - never reached
        await ws.accept()

    client = make_client(app)
    if interface == "wsgi":
        with pytest.raises(RuntimeError, match="ASGI interface"):
            client.websocket_connect("/ws")
    # A plain HTTP request for the WebSocket path gets 426 under both.
    assert client.get("/ws").status_code == 426
