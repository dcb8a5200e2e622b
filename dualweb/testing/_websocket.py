"""WebSocket (ASGI mode): the test's session, and its connection's exchange with the app."""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Literal

import httpx

from .._types import ASGIApp, ASGIMessage
from ..responses import dump_json
from ..websockets import WebSocketClosed, WebSocketDisconnect

# The module, not its _DISCONNECT_GRACE: the grace is read at each use, so that
# a test patching it there changes it for every part of the client.
from . import _asgi_transport
from ._asgi_transport import _ASGITransport

#: Close codes (RFC 6455 §7.4.1) the client reports itself.
_NORMAL_CLOSURE = 1000
_GOING_AWAY = 1001
_ABNORMAL_CLOSURE = 1006  # the connection ended without a close frame
_INTERNAL_ERROR = 1011


class WebSocketRejected(Exception):
    """The app refused the WebSocket handshake.

    Closing before accepting gives ``code`` and ``reason`` (the close
    message's) and ``status`` 403, which is what the ASGI spec has the server
    answer then. A denial response (the ``websocket.http.response``
    extension) gives its ``status``, ``headers`` and ``body``; ``code`` is
    None then.
    """

    def __init__(
        self,
        code: int | None,
        status: int = 403,
        body: bytes = b"",
        headers: httpx.Headers | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(code, status)
        self.code = code
        self.reason = reason
        self.status = status
        self.headers = headers if headers is not None else httpx.Headers()
        self.body = body

    def __str__(self) -> str:
        if self.code is None:
            return f"the app refused the WebSocket with an HTTP {self.status} response"
        reason = f": {self.reason}" if self.reason else ""
        return f"the app refused the WebSocket, closing it with code {self.code}{reason}"


class _NothingYet(Exception):
    """No message from the app within the timeout (never the app's own error)."""


class WebSocketSession:
    """The test's side of one WebSocket connection; see ``TestClient.websocket_connect``.

    Every method is called from the test's thread; the app runs on the
    client's loop. Receiving waits at most ``timeout`` seconds.
    """

    def __init__(
        self, transport: _ASGITransport, scope: dict[str, Any], timeout: float | None
    ) -> None:
        #: How long a receive waits by default, in seconds (None: forever).
        self.timeout = timeout
        #: The subprotocol and the headers the app accepted the handshake with.
        self.accepted_subprotocol: str | None = None
        self.accepted_headers = httpx.Headers()
        #: How the connection ended (None while open).
        self.close_code: int | None = None
        self.close_reason = ""
        self._closed_by: Literal["app", "test"] | None = None
        self._ended: _AppEnded | None = None
        self._transport = transport
        self._exchange = _WebSocketExchange()
        self._future = asyncio.run_coroutine_threadsafe(
            self._exchange.run(transport.app, scope), transport.loop
        )
        self._handshake()
        transport.websockets.add(self)

    def _handshake(self) -> None:
        try:
            message = self._next(self.timeout)
        except _NothingYet:
            self._closed_by = "test"
            self._abandon()
            raise TimeoutError(
                f"the app neither accepted nor refused the WebSocket within {self.timeout} s"
            ) from None
        if message is None:
            raise RuntimeError("the ASGI app returned without accepting or refusing the WebSocket")
        if message["type"] == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.accepted_headers = httpx.Headers(message.get("headers") or [])
            return
        self._closed_by = "app"
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", _NORMAL_CLOSURE)
            self.close_reason = message.get("reason") or ""
            refusal = WebSocketRejected(self.close_code, reason=self.close_reason)
        else:  # websocket.http.response.start: the exchange lets nothing else through
            refusal = self._denial(message)
        try:
            raise refusal
        finally:
            # An error of the app's, raised here, has the refusal as context.
            self._finish()

    def _denial(self, start: ASGIMessage) -> WebSocketRejected:
        body = b""
        while True:
            part = self._next(self.timeout)
            if part is None:
                raise RuntimeError("the ASGI app returned before the end of its denial response")
            body += part.get("body", b"")
            if not part.get("more_body", False):
                headers = httpx.Headers(start.get("headers") or [])
                return WebSocketRejected(None, start["status"], body, headers)

    # -- sending ---------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send a text message to the app."""
        self._send({"type": "websocket.receive", "text": text})

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message to the app."""
        self._send({"type": "websocket.receive", "bytes": bytes(data)})

    def send_json(self, data: Any, *, binary: bool = False) -> None:
        """Send ``data`` as JSON, in a text message (or a binary one)."""
        encoded = dump_json(data)
        if binary:
            self.send_bytes(encoded)
        else:
            self.send_text(encoded.decode())

    def _send(self, message: ASGIMessage) -> None:
        if self._closed_by is not None:
            raise WebSocketClosed(
                f"cannot send on a WebSocket the {self._closed_by} closed (code {self.close_code})"
            )
        self._transport.loop.call_soon_threadsafe(self._exchange.deliver, message)

    # -- receiving -------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> str | bytes:
        """The app's next message: str (text) or bytes (binary).

        Raises :class:`~dualweb.websockets.WebSocketDisconnect` once the app
        has closed the connection (code 1006 if it just returned), the app's
        own exception if it raised, and ``TimeoutError`` if nothing comes
        within ``timeout`` seconds (default: the session's).
        """
        if self._closed_by == "test":
            raise WebSocketClosed("cannot receive on a WebSocket the test closed")
        if self._closed_by == "app":
            raise WebSocketDisconnect(self.close_code or _ABNORMAL_CLOSURE, self.close_reason)
        wait = self.timeout if timeout is None else timeout
        try:
            message = self._next(wait)
        except _NothingYet:
            raise TimeoutError(f"no WebSocket message from the app within {wait} s") from None
        if message is None:
            self._closed_by, self.close_code = "app", _ABNORMAL_CLOSURE
            raise WebSocketDisconnect(_ABNORMAL_CLOSURE, "")
        if message["type"] == "websocket.close":
            self._closed_by = "app"
            self.close_code = message.get("code", _NORMAL_CLOSURE)
            self.close_reason = message.get("reason") or ""
            raise WebSocketDisconnect(self.close_code, self.close_reason)
        text = message.get("text")
        return text if text is not None else bytes(message["bytes"])

    def receive_text(self, timeout: float | None = None) -> str:
        """The next message, which must be text (TypeError otherwise)."""
        message = self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError(f"expected a text message, got binary {message[:40]!r}")
        return message

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message, which must be binary (TypeError otherwise)."""
        message = self.receive(timeout)
        if not isinstance(message, bytes):
            raise TypeError(f"expected a binary message, got text {message[:40]!r}")
        return message

    def receive_json(self, timeout: float | None = None) -> Any:
        """The next message, text or binary, parsed as JSON."""
        return json.loads(self.receive(timeout))

    def __iter__(self) -> Iterator[str | bytes]:
        """Every message until the app closes normally (1000 or 1001).

        Any other close code raises :class:`~dualweb.websockets.WebSocketDisconnect`,
        so an error closure does not pass for the end of the conversation.
        """
        while True:
            try:
                yield self.receive()
            except WebSocketDisconnect as exc:
                if exc.code in (_NORMAL_CLOSURE, _GOING_AWAY):
                    return
                raise

    # -- closing ---------------------------------------------------------------------

    def close(self, code: int = _NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection (the app receives ``websocket.disconnect``) and let the app end.

        Waits a few seconds at most for the app to return, then cancels it.
        An exception the app raised that the test has not seen is raised here.
        """
        if self._closed_by is None:
            self._closed_by, self.close_code, self.close_reason = "test", code, reason
            disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
            self._transport.loop.call_soon_threadsafe(self._exchange.deliver, disconnect)
        self._finish()

    def __enter__(self) -> WebSocketSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _next(self, timeout: float | None) -> ASGIMessage | None:
        """The app's next message; None when the app has returned.

        Only called while the app may still send. Raises the app's exception
        (once: it is the test's to see), or :class:`_NothingYet` after
        ``timeout`` seconds.
        """
        try:
            item = self._exchange.outbox.get(timeout=timeout)
        except queue.Empty:
            raise _NothingYet() from None
        if not isinstance(item, _AppEnded):
            return item
        self._ended = item
        if item.error is not None:
            if self._closed_by is None:
                # What servers send when the app fails.
                self._closed_by, self.close_code = "app", _INTERNAL_ERROR
            raise item.error
        return None

    def _finish(self) -> None:
        """Wait for the app to return, as a server would, for a bounded time."""
        self._transport.websockets.discard(self)
        deadline = time.monotonic() + _asgi_transport._DISCONNECT_GRACE
        while self._ended is None:
            try:
                self._next(max(deadline - time.monotonic(), 0))  # what it still sends is dropped
            except _NothingYet:
                self._abandon()

    def _abandon(self) -> None:
        """Cancel an app that does not return by itself."""
        self._future.cancel()
        self._ended = _AppEnded(None)
        self._transport.websockets.discard(self)


class _AppEnded:
    """The outbox's last item: the app returned, or raised ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _ConnectionClosed(OSError):
    """Sending on a closed WebSocket (ASGI 2.4: a server's subclass of OSError)."""


# Which messages the app may send in each state of the connection.
_ALLOWED = {
    "connecting": {"websocket.accept", "websocket.close", "websocket.http.response.start"},
    "responding": {"websocket.http.response.body"},
    "open": {"websocket.send", "websocket.close"},
}


class _WebSocketExchange:
    """One WebSocket connection's traffic between the test thread and the app's loop.

    The test's messages arrive through ``deliver`` (scheduled on the loop);
    the app's go to ``outbox``, followed by an :class:`_AppEnded`.
    """

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[ASGIMessage] = asyncio.Queue()
        self.outbox: queue.Queue[ASGIMessage | _AppEnded] = queue.Queue()
        self.state = "connecting"
        self.connected = False
        #: Once the connection is over, what every receive() answers.
        self.disconnect: ASGIMessage | None = None

    async def run(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self.receive, self.send)
        except BaseException as exc:
            self.outbox.put(_AppEnded(exc))
            if not isinstance(exc, Exception):
                raise  # cancellation and exits keep their meaning
        else:
            self.outbox.put(_AppEnded(None))

    def deliver(self, message: ASGIMessage) -> None:
        if message["type"] == "websocket.disconnect":
            self.state = "closed"
        self.inbox.put_nowait(message)

    async def receive(self) -> ASGIMessage:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.disconnect is None:
            message = await self.inbox.get()
            if message["type"] != "websocket.disconnect":
                return message
            self.disconnect = message
        return dict(self.disconnect)

    async def send(self, message: ASGIMessage) -> None:
        kind = message["type"]
        if self.state == "closed":
            if kind == "websocket.close":
                return  # closing a closed connection: nothing to do
            raise _ConnectionClosed(f"{kind!r} on a closed WebSocket")
        if kind not in _ALLOWED[self.state]:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on a {self.state} WebSocket")
        if kind == "websocket.send" and (message.get("text") is None) == (
            message.get("bytes") is None
        ):
            raise ValueError("a 'websocket.send' message needs either text or bytes")
        if kind == "websocket.accept":
            self.state = "open"
        elif kind == "websocket.http.response.start":
            self.state = "responding"
        elif kind == "websocket.close":
            self._closed_by_app(message.get("code", _NORMAL_CLOSURE), message.get("reason") or "")
        elif kind == "websocket.http.response.body" and not message.get("more_body", False):
            self._closed_by_app(_ABNORMAL_CLOSURE, "")
        self.outbox.put(message)

    def _closed_by_app(self, code: int, reason: str) -> None:
        self.state = "closed"
        self.disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        # Wakes a receive() that is waiting (the app may read in another task).
        self.inbox.put_nowait(self.disconnect)
