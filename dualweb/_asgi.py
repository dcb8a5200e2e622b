"""The ASGI adapter: ``scope``/``receive`` in, ``send`` out (HTTP and lifespan)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ._bridge import call_async_from_thread
from .datastructures import Address
from .requests import ClientDisconnect, Request
from .responses import Response

if TYPE_CHECKING:
    from ._types import ASGIReceive, ASGIScope, ASGISend
    from .app import App

_DONE: Any = object()


class ASGIAdapter:
    """The App's ASGI 3 callable."""

    __slots__ = ("app",)

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            # No WebSocket routes yet: refuse the handshake (the server answers 403).
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError(f"unknown ASGI scope type {kind!r}")

    async def _http(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        app = self.app
        method = scope["method"]
        root_path = scope.get("root_path", "")
        path = scope["path"]
        # The ASGI spec's path includes root_path (SCRIPT_NAME is not part of
        # WSGI's PATH_INFO); routes match what lies below the mount point.
        if root_path and (path == root_path or path.startswith(root_path + "/")):
            path = path[len(root_path) :] or "/"
        route, params, outcome = app._resolve(method, path)
        request = Request(app, ASGISource(scope, receive), method, path, root_path, params, route)
        response = await app._respond(request, outcome, True)
        await self._send(response, send, method == "HEAD")

    async def _send(self, response: Response, send: ASGISend, head: bool) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (name.encode("latin-1"), value.encode("latin-1"))
                    for name, value in response.raw_headers
                ],
            }
        )
        stream = response.stream
        if stream is None:
            await send({"type": "http.response.body", "body": b"" if head else response.body})
            return
        if hasattr(stream, "__aiter__"):
            chunks: AsyncIterable[Any] = stream  # type: ignore[assignment]
        else:
            chunks = self.app.thread_pool.iterate(stream)
        if head:
            await _aclose(chunks)
        else:
            try:
                async for chunk in chunks:
                    body = chunk.encode() if isinstance(chunk, str) else chunk
                    if body:
                        await send({"type": "http.response.body", "body": body, "more_body": True})
            finally:
                await _aclose(chunks)
        await send({"type": "http.response.body", "body": b""})


async def _aclose(chunks: object) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


async def _lifespan(receive: ASGIReceive, send: ASGISend) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class ASGISource:
    """A request's view of ``scope`` and ``receive``."""

    __slots__ = ("receive", "scope")
    interface = "asgi"

    def __init__(self, scope: ASGIScope, receive: ASGIReceive) -> None:
        self.scope = scope
        self.receive = receive

    def header_items(self) -> list[tuple[str, str]]:
        return [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self.scope.get("headers", ())
        ]

    def query_string(self) -> str:
        return self.scope.get("query_string", b"").decode("latin-1")  # type: ignore[no-any-return]

    def scheme(self) -> str:
        return self.scope.get("scheme", "http")  # type: ignore[no-any-return]

    def server(self) -> tuple[str, int | None] | None:
        server = self.scope.get("server")
        return (server[0], server[1]) if server else None

    def client(self) -> Address | None:
        client = self.scope.get("client")
        if not client:
            return None
        port = client[1]
        # granian reports the port as a str; the ASGI spec says int.
        return Address(client[0], int(port) if port is not None else None)

    async def aiter_body(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return

    def iter_body(self) -> Iterator[bytes]:
        # A sync handler runs in a pool thread; each chunk is awaited on the
        # server's loop through asgiref's async_to_sync.
        chunks = self.aiter_body()
        while True:
            chunk = call_async_from_thread(lambda: anext(chunks, _DONE))
            if chunk is _DONE:
                return
            yield chunk
