"""ASGI mode: the app runs on an event loop in a background thread.

The transport owns the loop; each HTTP request is one exchange of messages
with the app, and its response is streamed chunk by chunk.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import os
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

import httpx

from .._types import ASGIApp, ASGIMessage
from ._http import _path_and_query, _truncated

if TYPE_CHECKING:
    from ._lifespan import _ASGILifespan
    from ._websocket import WebSocketSession


class _ASGITransport(httpx.BaseTransport):
    """Runs the ASGI app on a background loop; messages cross through queues."""

    def __init__(self, app: ASGIApp, client: tuple[str, int]) -> None:
        self.app = app
        self.client = client
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        #: WebSocket sessions still open, closed before the loop stops.
        self.websockets: set[WebSocketSession] = set()
        #: The app's lifespan, once started; shut down before the loop stops.
        self.lifespan: _ASGILifespan | None = None

    def shutdown(self) -> None:
        if not self.loop.is_closed():
            try:
                for session in list(self.websockets):
                    session.close()
                if self.lifespan is not None:
                    self.lifespan.shutdown()
            finally:
                self._stop_loop()

    def _stop_loop(self) -> None:
        # Let requests still finishing (cleanup after the last message)
        # end before the loop goes, instead of being destroyed pending.
        finishing = asyncio.run_coroutine_threadsafe(_wait_for_other_tasks(), self.loop)
        try:
            finishing.result(_DISCONNECT_GRACE)
        except concurrent.futures.TimeoutError:
            finishing.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def scope(self, request: httpx.Request) -> dict[str, Any]:
        """What an ``http`` and a ``websocket`` scope have in common."""
        raw_path, query = _path_and_query(request.url)
        return {
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "scheme": request.url.scheme,
            "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "server": (
                request.url.host,
                request.url.port or (443 if request.url.scheme in ("https", "wss") else 80),
            ),
            "client": self.client,
        }

    def websocket_scope(self, request: httpx.Request, subprotocols: list[str]) -> dict[str, Any]:
        scope = self.scope(request)
        secure = request.url.scheme in ("https", "wss")
        # The handshake's own fields (RFC 6455 §4.1) replace httpx's keep-alive.
        headers = [(name, value) for name, value in scope["headers"] if name != b"connection"]
        key = base64.b64encode(os.urandom(16))
        headers += [
            (b"connection", b"upgrade"),
            (b"upgrade", b"websocket"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", key),
        ]
        if subprotocols:
            headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
        scope.update(
            type="websocket",
            # 2.4: send() on a closed connection raises an OSError.
            asgi={"version": "3.0", "spec_version": "2.4"},
            scheme="wss" if secure else "ws",
            headers=headers,
            subprotocols=subprotocols,
            # The app may refuse the handshake with an HTTP response.
            extensions={"websocket.http.response": {}},
        )
        return scope

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        scope = self.scope(request)
        scope.update(type="http", method=request.method)
        exchange = _Exchange(body)
        future = asyncio.run_coroutine_threadsafe(exchange.run(self.app, scope), self.loop)
        start = exchange.outbox.get()
        if isinstance(start, BaseException):
            future.result()
            raise start
        return httpx.Response(
            start["status"],
            headers=start.get("headers", []),
            stream=_ASGIStream(exchange, future, self.loop),
        )


async def _wait_for_other_tasks() -> None:
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others)


class _Exchange:
    """One request's traffic between the test thread and the app's loop."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.body_sent = False
        self.complete = False
        self.outbox: queue.Queue[Any] = queue.Queue()
        self.disconnected: asyncio.Event | None = None

    async def run(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        self.disconnected = asyncio.Event()
        try:
            await app(scope, self.receive, self.send)
        except BaseException as exc:
            self.outbox.put(exc)
            raise
        # Returning before the last body message: a server closes the connection.
        if not self.complete:
            self.outbox.put(_truncated())

    async def receive(self) -> ASGIMessage:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        assert self.disconnected is not None
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: ASGIMessage) -> None:
        if message["type"] == "http.response.start":
            self.outbox.put(message)
        elif message["type"] == "http.response.body":
            if message.get("body"):
                self.outbox.put(bytes(message["body"]))
            if not message.get("more_body", False):
                self.complete = True
                self.outbox.put(None)


#: How long a closed response waits for the ASGI app to finish by itself.
_DISCONNECT_GRACE = 5.0


class _ASGIStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, future: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.exchange = exchange
        self.future = future
        self.loop = loop
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.done:
            item = self.exchange.outbox.get()
            if item is None:
                self.done = True
                return
            if isinstance(item, BaseException):
                self.done = True
                raise item
            yield item

    def close(self) -> None:
        event = self.exchange.disconnected
        if event is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(event.set)
        if not self.done:
            # Give the app the chance a server gives it: see the disconnect
            # and finish (its generators' finally clauses run) before the
            # test goes on; cancel it only if it does not.
            try:
                self.future.result(timeout=_DISCONNECT_GRACE)
            except concurrent.futures.TimeoutError:
                self.future.cancel()
            except BaseException:  # the app's own outcome is not the client's business
                pass
