"""WebSocket routes, driven through the ASGI protocol by hand.

A scripted "server" feeds the app the client's messages and records what
the app sends, so each protocol step (accept, close codes, denial, limits)
is checked exactly. The test client and real servers are covered in
test_testing_websockets.py and test_servers_websockets.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from dualweb import App, HTTPException, WebSocket, WebSocketClosed, WebSocketDisconnect


class ScriptedServer:
    """Plays the server's side of one ASGI WebSocket connection."""

    def __init__(
        self,
        incoming: list[dict[str, Any]] | None = None,
        *,
        path: str = "/ws",
        query: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        subprotocols: list[str] | None = None,
        extensions: dict[str, Any] | None = None,
        root_path: str = "",
    ) -> None:
        self.incoming = [{"type": "websocket.connect"}, *(incoming or [])]
        self.sent: list[dict[str, Any]] = []
        self.scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": root_path,
            "path": root_path + path,
            "raw_path": (root_path + path).encode(),
            "query_string": query,
            "headers": headers or [(b"host", b"testserver")],
            "subprotocols": subprotocols or [],
            "extensions": extensions or {},
        }

    async def receive(self) -> dict[str, Any]:
        if self.incoming:
            return self.incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def run(self, app: App) -> list[dict[str, Any]]:
        asyncio.run(app(self.scope, self.receive, self.send))
        return self.sent


def text(value: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": value}


def binary(value: bytes) -> dict[str, Any]:
    return {"type": "websocket.receive", "bytes": value}


def disconnect(code: int = 1000, reason: str = "") -> dict[str, Any]:
    return {"type": "websocket.disconnect", "code": code, "reason": reason}


ACCEPT = {"type": "websocket.accept", "subprotocol": None, "headers": []}


def echo_app(**options: Any) -> tuple[App, list[Any]]:
    app = App(**options)
    seen: list[Any] = []

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            async for message in ws:
                if isinstance(message, str):
                    await ws.send_text(message.upper())
                else:
                    await ws.send_bytes(message[::-1])
        finally:
            seen.append(ws.close_code)

    return app, seen


def test_echo_text_and_bytes_until_the_client_closes() -> None:
    app, seen = echo_app()
    sent = ScriptedServer([text("hi"), binary(b"abc"), disconnect(1001)]).run(app)
    assert sent == [
        ACCEPT,
        {"type": "websocket.send", "text": "HI"},
        {"type": "websocket.send", "bytes": b"cba"},
    ]
    # The client closed: the app sends no close of its own, and saw the code.
    assert seen == [1001]


def test_json_both_ways() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        first = await ws.receive_json()
        second = await ws.receive_json()
        await ws.send_json({"got": [first, second], "name": "Zoë"})
        await ws.send_json([1], binary=True)

    sent = ScriptedServer([text('{"a": 1}'), binary(b"[2]")]).run(app)
    assert sent[1] == {"type": "websocket.send", "text": '{"got":[{"a":1},[2]],"name":"Zoë"}'}
    assert sent[2] == {"type": "websocket.send", "bytes": b"[1]"}
    # The handler returned without closing: the app closes normally.
    assert sent[3] == {"type": "websocket.close", "code": 1000}


@pytest.mark.parametrize(
    ("method", "message", "code"),
    [
        ("receive_text", binary(b"x"), 1003),
        ("receive_bytes", text("x"), 1003),
        ("receive_json", text("{not json"), 1007),
    ],
)
def test_wrong_kind_of_message_closes_with_its_code(method: str, message: Any, code: int) -> None:
    app = App()
    raised: list[WebSocketDisconnect] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await getattr(ws, method)()
        except WebSocketDisconnect as exc:
            raised.append(exc)
            raise

    sent = ScriptedServer([message]).run(app)
    assert sent[-1]["type"] == "websocket.close"
    assert sent[-1]["code"] == code
    assert [exc.code for exc in raised] == [code]
    assert str(raised[0]).startswith(f"WebSocket closed with code {code}: ")


def test_message_over_the_limit_closes_with_1009() -> None:
    app, seen = echo_app(max_message_size=10)
    sent = ScriptedServer([text("x" * 10), text("é" * 6), binary(b"y" * 11)]).run(app)
    assert sent[1] == {"type": "websocket.send", "text": "X" * 10}
    # Six "é" are twelve bytes of UTF-8: over the limit, although six characters.
    assert sent[2]["type"] == "websocket.close"
    assert sent[2]["code"] == 1009
    assert "10 bytes" in sent[2]["reason"]
    assert len(sent) == 3
    assert seen == [1009]


def test_route_overrides_the_message_limit() -> None:
    app = App(max_message_size=4)
    received: list[Any] = []

    @app.websocket("/ws", max_message_size=None)
    async def unlimited(ws: WebSocket) -> None:
        await ws.accept()
        received.append(len(await ws.receive_bytes()))

    ScriptedServer([binary(b"z" * 5_000_000)]).run(app)
    assert received == [5_000_000]


def test_subprotocol_and_accept_headers() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        assert ws.subprotocols == ["v2.chat", "v1.chat"]
        await ws.accept("v1.chat", headers={"X-Room": "lobby"})
        await ws.close(4000, "bye")

    sent = ScriptedServer(subprotocols=["v2.chat", "v1.chat"]).run(app)
    assert sent == [
        {"type": "websocket.accept", "subprotocol": "v1.chat", "headers": [(b"x-room", b"lobby")]},
        {"type": "websocket.close", "code": 4000, "reason": "bye"},
    ]


def test_subprotocol_the_client_did_not_offer_is_an_error(caplog) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept("v3")

    with caplog.at_level(logging.ERROR, logger="dualweb"):
        sent = ScriptedServer(subprotocols=["v1"]).run(app)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert "did not offer the subprotocol 'v3'" in caplog.text


def test_read_side_is_the_requests() -> None:
    app = App()
    seen: dict[str, Any] = {}

    @app.websocket("/rooms/{room}/{seat:int}", name="seat")
    async def handler(ws: WebSocket, room: str, seat: int) -> None:
        seen.update(
            room=room,
            seat=seat,
            params=ws.path_params,
            query=ws.query_params.get("token"),
            header=ws.headers.get("x-client"),
            cookies=ws.cookies,
            client=ws.client,
            url=ws.url,
            scheme=ws.scheme,
            url_for=ws.url_for("seat", room="a b", seat=2),
            state=ws.connection_state,
        )
        await ws.close()

    headers = [(b"host", b"example.com"), (b"x-client", b"t1"), (b"cookie", b"sid=42")]
    ScriptedServer(
        path="/rooms/lobby/7", query=b"token=abc", headers=headers, root_path="/app"
    ).run(app)
    assert seen == {
        "room": "lobby",
        "seat": 7,
        "params": {"room": "lobby", "seat": 7},
        "query": "abc",
        "header": "t1",
        "cookies": {"sid": "42"},
        "client": ("127.0.0.1", 50000),
        "url": "ws://example.com/app/rooms/lobby/7?token=abc",
        "scheme": "ws",
        "url_for": "ws://example.com/app/rooms/a%20b/2",
        "state": "connecting",
    }


# -- refusing the connection -------------------------------------------------------------


def test_close_before_accept_refuses_with_policy_violation() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        if ws.query_params.get("token") != "secret":
            await ws.close(1008)
            return
        await ws.accept()  # pragma: no cover

    assert ScriptedServer().run(app) == [{"type": "websocket.close", "code": 1008}]


DENIAL = {"websocket.http.response": {}}


def test_deny_sends_an_http_response_where_the_server_can() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.deny(401, "Log in first", {"WWW-Authenticate": "Bearer"})

    sent = ScriptedServer(extensions=DENIAL).run(app)
    assert sent == [
        {
            "type": "websocket.http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"www-authenticate", b"Bearer"),
                (b"content-length", b"12"),
            ],
        },
        {"type": "websocket.http.response.body", "body": b"Log in first"},
    ]
    assert ScriptedServer().run(app) == [{"type": "websocket.close", "code": 1008}]


def test_http_exception_before_accept_is_a_denial_and_after_a_close() -> None:
    app = App()

    @app.websocket("/before")
    async def before(ws: WebSocket) -> None:
        raise HTTPException(403, "Not your room")

    @app.websocket("/after")
    async def after(ws: WebSocket) -> None:
        await ws.accept()
        raise HTTPException(403, "Not your room")

    sent = ScriptedServer(path="/before", extensions=DENIAL).run(app)
    assert sent[0]["status"] == 403
    assert sent[1]["body"] == b"Not your room"
    sent = ScriptedServer(path="/after").run(app)
    assert sent[-1] == {"type": "websocket.close", "code": 1008, "reason": "Not your room"}


def test_unknown_path_is_refused() -> None:
    app = App()
    sent = ScriptedServer(path="/nowhere", extensions=DENIAL).run(app)
    assert sent[0]["status"] == 404
    assert ScriptedServer(path="/nowhere").run(app) == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize(("accept_first", "code"), [(False, 1008), (True, 1011)])
def test_unhandled_exception_is_logged_and_closes(caplog, accept_first: bool, code: int) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        if accept_first:
            await ws.accept()
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="dualweb"):
        sent = ScriptedServer().run(app)
    assert sent[-1] == {"type": "websocket.close", "code": code}
    assert "Exception in WebSocket handler for /ws" in caplog.text
    assert "RuntimeError: boom" in caplog.text


# -- using a socket in the wrong state --------------------------------------------------------


def test_wrong_states_are_clear_errors() -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        for call in (ws.send_text("x"), ws.receive()):
            try:
                await call
            except WebSocketClosed as exc:
                errors.append(str(exc))
        await ws.accept()
        try:
            await ws.accept()
        except WebSocketClosed as exc:
            errors.append(str(exc))
        await ws.close(4001)
        await ws.close()  # closing twice does nothing
        for call in (ws.send_bytes(b"x"), ws.receive()):
            try:
                await call
            except WebSocketClosed as exc:
                errors.append(str(exc))
        try:
            await ws.deny()
        except WebSocketClosed as exc:
            errors.append(str(exc))

    sent = ScriptedServer().run(app)
    assert errors == [
        "cannot send on a WebSocket before accept()",
        "cannot receive a WebSocket before accept()",
        "cannot accept a WebSocket that is open",
        "cannot send on a closed WebSocket (code 4001)",
        "cannot receive a closed WebSocket (code 4001)",
        "deny() is only possible before accept()",
    ]
    assert sent == [ACCEPT, {"type": "websocket.close", "code": 4001}]


def test_receiving_again_after_the_client_left_raises_the_same_disconnect() -> None:
    app = App()
    codes: list[int] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        for _ in range(2):
            try:
                await ws.receive()
            except WebSocketDisconnect as exc:
                codes.append(exc.code)
        try:
            await ws.send_text("anyone?")
        except WebSocketClosed:
            codes.append(-1)

    ScriptedServer([disconnect(1001, "tab closed")]).run(app)
    assert codes == [1001, 1001, -1]


def test_client_gone_before_accept() -> None:
    app = App()
    raised: list[int] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        try:
            await ws.accept()
        except WebSocketDisconnect as exc:
            raised.append(exc.code)
            raise

    server = ScriptedServer()
    server.incoming = [disconnect(1006)]
    assert server.run(app) == []
    assert raised == [1006]


def test_send_failing_with_oserror_is_a_disconnect() -> None:
    """ASGI 2.4 servers raise OSError from send() once the client is gone."""
    app = App()
    raised: list[int] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.send_text("hello?")
        except WebSocketDisconnect as exc:
            raised.append(exc.code)

    class GoneServer(ScriptedServer):
        async def send(self, message: dict[str, Any]) -> None:
            if message["type"] != "websocket.accept":
                raise OSError("connection lost")
            await super().send(message)

    assert GoneServer().run(app) == [ACCEPT]
    assert raised == [1006]


def test_unexpected_message_is_an_error(caplog) -> None:
    app, _ = echo_app()
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        sent = ScriptedServer([{"type": "websocket.bogus"}]).run(app)
    assert sent[-1] == {"type": "websocket.close", "code": 1011}
    assert "unexpected ASGI message 'websocket.bogus'" in caplog.text


def test_handlers_must_be_async() -> None:
    app = App()
    with pytest.raises(TypeError, match="must be an async function"):

        @app.websocket("/ws")
        def handler(ws):  # pragma: no cover
            pass


def test_same_pattern_twice_is_refused() -> None:
    app = App()
    app.add_websocket_route("/ws/{room}", echo_app()[0].websocket_router.routes[0].endpoint)
    with pytest.raises(ValueError, match="while registering"):
        app.add_websocket_route("/ws/{name}", echo_app()[0].websocket_router.routes[0].endpoint)


def test_repr() -> None:
    app = App()
    reprs: list[str] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        reprs.append(repr(ws))

    ScriptedServer().run(app)
    assert reprs == ["<WebSocket /ws connecting>"]


# -- plain HTTP to a WebSocket route ------------------------------------------------------------


def test_http_request_to_a_websocket_path_is_426(make_client, interface: str) -> None:
    app, _ = echo_app()

    @app.post("/both")
    def post_only(request):
        return "posted"

    @app.websocket("/both")
    async def both(ws):  # pragma: no cover
        await ws.accept()

    client = make_client(app)
    for path in ("/ws", "/both"):
        response = client.get(path, headers={"Connection": "Upgrade", "Upgrade": "websocket"})
        assert response.status_code == 426
        if interface == "wsgi":
            assert response.text == "WebSocket routes need an ASGI server; this one speaks WSGI"
            # Hop-by-hop headers are not a WSGI app's to send (PEP 3333).
            assert "upgrade" not in response.headers
        else:
            assert response.text == "This path takes WebSocket connections only"
            assert response.headers["upgrade"] == "websocket"
            assert response.headers["connection"] == "Upgrade"
    assert client.post("/both").text == "posted"
    assert client.get("/nowhere").status_code == 404
    assert client.delete("/ws").status_code == 426


def test_typed_receives_and_cleanup_when_the_connection_ends() -> None:
    app = App()
    events: list[Any] = []

    class Resource:
        def close(self) -> None:
            events.append("released")

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        ws.add_cleanup(Resource())
        await ws.accept()
        events.append(await ws.receive_text())
        events.append(await ws.receive_bytes())

    ScriptedServer([text("t"), binary(b"b")]).run(app)
    assert events == ["t", b"b", "released"]


# -- close codes and reasons the protocol cannot carry -----------------------------------------


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, True])
def test_close_code_an_app_may_not_send_is_a_value_error(caplog, code: int) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(code)

    with caplog.at_level(logging.ERROR, logger="dualweb"):
        sent = ScriptedServer().run(app)
    # Never sent as is: the error is logged and the connection closes with 1011.
    assert sent[-1] == {"type": "websocket.close", "code": 1011}
    assert "is not a close code an app may send" in caplog.text


@pytest.mark.parametrize("code", [1000, 1003, 1007, 1014, 3000, 4999])
def test_close_codes_an_app_may_send(code: int) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(code)

    assert ScriptedServer().run(app)[-1] == {"type": "websocket.close", "code": code}


def test_long_close_reason_is_cut_to_123_bytes_on_a_character_boundary() -> None:
    app = App()

    @app.websocket("/explicit")
    async def explicit(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "é" * 100)

    @app.websocket("/exception")
    async def exception(ws: WebSocket) -> None:
        await ws.accept()
        raise HTTPException(400, "€" * 100)

    reason = ScriptedServer(path="/explicit").run(app)[-1]["reason"]
    assert reason == "é" * 61  # 122 bytes: a 62nd "é" would need 124
    sent = ScriptedServer(path="/exception").run(app)[-1]
    assert sent == {"type": "websocket.close", "code": 1008, "reason": "€" * 41}


def test_http_exception_with_unsendable_header_is_logged_not_raised(caplog) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        raise HTTPException(401, "Log in", headers={"X-Hint": "€"})

    with caplog.at_level(logging.ERROR, logger="dualweb"):
        sent = ScriptedServer(extensions=DENIAL).run(app)
    # The connection is still refused (before accept a close is a 403).
    assert sent == [{"type": "websocket.close", "code": 1000}]
    assert "Exception answering an HTTPException for WebSocket /ws" in caplog.text
    assert "UnicodeEncodeError" in caplog.text
