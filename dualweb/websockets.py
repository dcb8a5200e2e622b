"""WebSocket connections (ASGI): the socket object and the route runner.

A WebSocket shares the request's read side (:class:`HTTPConnection`: URL,
path parameters, query, headers, cookies, client) and speaks the ASGI
``websocket`` protocol underneath. WSGI has no WebSockets: there a request
to a WebSocket route gets 426 (see ``App._resolve``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .exceptions import HTTPException
from .requests import HTTPConnection, parse_json
from .responses import PlainTextResponse, Response, dump_json

if TYPE_CHECKING:
    from ._asgi import ASGISource
    from ._types import ASGIReceive, ASGISend
    from .app import App
    from .routing import Route

logger = logging.getLogger("dualweb")

# Close codes (RFC 6455 §7.4.1).
NORMAL_CLOSURE = 1000
UNSUPPORTED_DATA = 1003
NO_STATUS = 1005
ABNORMAL_CLOSURE = 1006
INVALID_PAYLOAD = 1007
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011

# RFC 6455 §5.5: a control frame's payload is at most 125 bytes, two of
# them the close code, so a close reason has at most 123 bytes of UTF-8.
MAX_CLOSE_REASON_SIZE = 123

_CONNECTING, _OPEN, _CLOSED = "connecting", "open", "closed"
_DENIAL_EXTENSION = "websocket.http.response"


class WebSocketDisconnect(Exception):
    """The connection is closed: by the client, or by the app over a bad message.

    ``code`` is the close code (1000 normal, 1001 going away, 1009 message
    too big...), ``reason`` the close reason, if any.
    """

    def __init__(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (
            f": {self.reason}" if self.reason else ""
        )


class WebSocketClosed(RuntimeError):
    """Sending or receiving on a socket that the app itself has closed."""


class WebSocket(HTTPConnection):
    """One WebSocket connection, handed to a ``@app.websocket`` handler."""

    __slots__ = (
        "_close_code",
        "_closed_by_client",
        "_receive",
        "_send",
        "_status",
        "max_message_size",
    )

    def __init__(
        self,
        app: App,
        source: ASGISource,
        path: str,
        root_path: str,
        path_params: dict[str, Any],
        route: Route | None,
        receive: ASGIReceive,
        send: ASGISend,
    ) -> None:
        super().__init__(app, source, "GET", path, root_path, path_params, route)
        self._receive = receive
        self._send = send
        self._status = _CONNECTING
        self._close_code: int | None = None
        self._closed_by_client = False
        #: The largest message accepted, in bytes (None: no limit); larger
        #: ones close the connection with 1009.
        self.max_message_size = self.limit("max_message_size")

    # -- the handshake ---------------------------------------------------------------

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self._source.scope.get("subprotocols", ()))  # type: ignore[attr-defined]

    @property
    def connection_state(self) -> str:
        """``"connecting"`` (before accept), ``"open"`` or ``"closed"``."""
        return self._status

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Complete the handshake, choosing ``subprotocol`` (one the client offered)."""
        if self._status != _CONNECTING:
            raise WebSocketClosed(f"cannot accept a WebSocket that is {self._status}")
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self._client_closed(message)
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(f"the client did not offer the subprotocol {subprotocol!r}")
        pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
        await self._send(
            {
                "type": "websocket.accept",
                "subprotocol": subprotocol,
                "headers": [
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in pairs
                ],
            }
        )
        self._status = _OPEN

    async def deny(
        self,
        status: int = 403,
        body: str | bytes = "Forbidden",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Refuse the handshake with an HTTP response, where the server can send one.

        Servers with the ``websocket.http.response`` extension (uvicorn) send
        ``status`` and ``body``; elsewhere the connection is closed with 1008
        (policy violation), which the server answers with 403.
        """
        if self._status != _CONNECTING:
            raise WebSocketClosed("deny() is only possible before accept()")
        extensions = self._source.scope.get("extensions") or {}  # type: ignore[attr-defined]
        if _DENIAL_EXTENSION not in extensions:
            await self.close(POLICY_VIOLATION)
            return
        content = body.encode() if isinstance(body, str) else body
        header_list = [(b"content-type", b"text/plain; charset=utf-8")]
        header_list += [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in (headers or {}).items()
        ]
        header_list.append((b"content-length", str(len(content)).encode()))
        self._status = _CLOSED
        self._close_code = POLICY_VIOLATION
        await self._send(
            {"type": "websocket.http.response.start", "status": status, "headers": header_list}
        )
        await self._send({"type": "websocket.http.response.body", "body": content})

    # -- receiving ---------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message, text (str) or binary (bytes).

        Raises :class:`WebSocketDisconnect` once the client has closed.
        """
        if self._status != _OPEN:
            self._check_open("receive")
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            data: str | bytes = text if text is not None else message.get("bytes") or b""
            limit = self.max_message_size
            if limit is not None and len(data) > limit // 4 and _size(data) > limit:
                await self._close_over(MESSAGE_TOO_BIG, f"message larger than {limit} bytes")
            return data
        if kind == "websocket.disconnect":
            self._client_closed(message)
        raise RuntimeError(f"unexpected ASGI message {kind!r} on an open WebSocket")

    async def receive_text(self) -> str:
        """The next message, which must be text (else the connection closes with 1003)."""
        message = await self.receive()
        if not isinstance(message, str):
            await self._close_over(UNSUPPORTED_DATA, "expected a text message")
        return message  # type: ignore[return-value]

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary (else the connection closes with 1003)."""
        message = await self.receive()
        if not isinstance(message, bytes):
            await self._close_over(UNSUPPORTED_DATA, "expected a binary message")
        return message  # type: ignore[return-value]

    async def receive_json(self) -> Any:
        """The next message (text or binary) parsed as JSON; invalid JSON closes with 1007."""
        message = await self.receive()
        try:
            # As strict as request.json(): what it gives can be sent back.
            return parse_json(message)
        except HTTPException:
            await self._close_over(INVALID_PAYLOAD, "invalid JSON")

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        """Every message until the client closes (then the iteration just ends)."""
        while True:
            try:
                message = await self.receive()
            except WebSocketDisconnect:
                return
            yield message

    # -- sending -------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        """Send a text message."""
        await self._send_message({"type": "websocket.send", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)})

    async def send_json(self, data: Any, *, binary: bool = False) -> None:
        """Send ``data`` as compact JSON, in a text message (or a binary one)."""
        encoded = dump_json(data)
        if binary:
            await self._send_message({"type": "websocket.send", "bytes": encoded})
        else:
            await self._send_message({"type": "websocket.send", "text": encoded.decode()})

    async def _send_message(self, message: dict[str, Any]) -> None:
        if self._status != _OPEN:
            self._check_open("send on")
        try:
            await self._send(message)
        except OSError:
            # ASGI 2.4 servers raise this once the client is gone.
            self._status = _CLOSED
            self._closed_by_client = True
            self._close_code = ABNORMAL_CLOSURE
            raise WebSocketDisconnect(ABNORMAL_CLOSURE) from None

    async def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection (before accept: refuse it; the server answers 403).

        Closing a closed socket does nothing.
        """
        if self._status == _CLOSED:
            return
        if not _is_sendable_code(code):
            # Checked here, with the app's code in the traceback, rather than
            # left to the server, which would fail later or send it as is.
            raise ValueError(
                f"{code!r} is not a close code an app may send "
                "(1000-1003, 1007-1014 or 3000-4999; RFC 6455 §7.4)"
            )
        self._status = _CLOSED
        self._close_code = code
        message: dict[str, Any] = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = _truncate_reason(reason)
        with contextlib.suppress(OSError):  # the client is gone already: closed either way
            await self._send(message)

    @property
    def close_code(self) -> int | None:
        """The code the connection was closed with, or None while it is open."""
        return self._close_code

    def _client_closed(self, message: Mapping[str, Any]) -> None:
        self._status = _CLOSED
        self._closed_by_client = True
        self._close_code = message.get("code", NO_STATUS)
        raise WebSocketDisconnect(self._close_code, message.get("reason") or "")

    def _check_open(self, action: str) -> None:
        """Raise the right error for using a socket that is not open."""
        if self._status == _CONNECTING:
            raise WebSocketClosed(f"cannot {action} a WebSocket before accept()")
        if action == "receive" and self._closed_by_client:
            # Asked again after the client closed: the same answer as then.
            raise WebSocketDisconnect(self._close_code or NO_STATUS)
        raise WebSocketClosed(f"cannot {action} a closed WebSocket (code {self._close_code})")

    async def _close_over(self, code: int, reason: str) -> None:
        await self.close(code, reason)
        raise WebSocketDisconnect(code, reason)

    def __repr__(self) -> str:
        return f"<WebSocket {self.root_path}{self.path} {self._status}>"


def _is_sendable_code(code: int) -> bool:
    """Whether a close frame may carry ``code`` (RFC 6455 §7.4.1-2).

    1004 is reserved, 1005, 1006 and 1015 only report what happened locally
    and must never be sent; below 1000 and from 5000 nothing is defined.
    """
    if isinstance(code, bool) or not isinstance(code, int):
        return False
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _truncate_reason(reason: str) -> str:
    """``reason`` cut to the bytes a close frame has room for, on a character boundary.

    Servers refuse (or the peer fails the connection over) a longer one, so
    a long message, as an HTTPException's detail can be, would lose the close.
    """
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON_SIZE:
        return reason
    return encoded[:MAX_CLOSE_REASON_SIZE].decode(errors="ignore")


def _size(data: str | bytes) -> int:
    return len(data.encode()) if isinstance(data, str) else len(data)


def upgrade_required(interface: str) -> Response:
    """426 for an HTTP request to a path that only takes WebSocket connections."""
    if interface == "wsgi":
        # PEP 3333 forbids hop-by-hop headers (Upgrade, Connection) in a
        # WSGI response; servers refuse or mangle them.
        text = "WebSocket routes need an ASGI server; this one speaks WSGI"
        return PlainTextResponse(text, 426)
    text = "This path takes WebSocket connections only"
    return PlainTextResponse(text, 426, {"Upgrade": "websocket", "Connection": "Upgrade"})


async def run_websocket(
    app: App, source: ASGISource, path: str, root_path: str, receive: ASGIReceive, send: ASGISend
) -> None:
    """Serve one ASGI ``websocket`` connection with the matching route."""
    try:
        route, params = app.websocket_router.match("GET", path)
    except HTTPException:
        route, params = None, {}
    if route is not None and route.mount is not None:
        await route.mount.serve_websocket(source.scope, root_path, path, receive, send)
        return
    socket = WebSocket(app, source, path, root_path, params, route, receive, send)
    try:
        if route is None:
            await socket.deny(404, "Not Found")
            return
        await route.endpoint(socket, **params)
    except WebSocketDisconnect:
        pass  # the client left, or a bad message closed the connection
    except HTTPException as exc:
        try:
            if socket._status == _CONNECTING:
                await socket.deny(exc.status_code, exc.detail, exc.headers)
            else:
                await socket.close(POLICY_VIOLATION, exc.detail)
        except Exception:
            # E.g. a header value that is not latin-1: the close below still
            # ends the connection, and the error must not escape to the server.
            logger.exception("Exception answering an HTTPException for WebSocket %s", path)
    except Exception:
        logger.exception("Exception in WebSocket handler for %s", path)
        # Before accept, closing refuses the handshake (the server answers 403).
        await socket.close(INTERNAL_ERROR if socket._status == _OPEN else POLICY_VIOLATION)
    finally:
        await socket.close()
        if socket._has_resources:
            await app.thread_pool.run(socket._release)
