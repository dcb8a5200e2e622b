"""The ASGI adapter: ``scope``/``receive`` in, ``send`` out (HTTP and lifespan)."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from asgiref.sync import markcoroutinefunction

from ._bridge import call_async_from_thread
from .background import combine
from .datastructures import Address
from .files import FileBody, FileResponse
from .requests import ClientDisconnect, Request
from .responses import Response, to_response
from .websockets import run_websocket

if TYPE_CHECKING:
    from ._types import ASGIReceive, ASGIScope, ASGISend
    from .app import App

_DONE: Any = object()
logger = logging.getLogger("dualweb")


class ASGIAdapter:
    """The App's ASGI 3 callable."""

    __slots__ = ("app",)

    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(
        self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend
    ) -> Coroutine[Any, Any, None]:
        # A plain function handing back the coroutine to await: one coroutine
        # less per request than an async one awaiting it.
        kind = scope["type"]
        if kind == "http":
            return self.http(scope, receive, send)
        if kind == "lifespan":
            return _lifespan(self.app, receive, send)
        if kind == "websocket":
            root_path = scope.get("root_path", "")
            path = _below_root(scope["path"], root_path)
            source = ASGISource(scope, receive)
            return run_websocket(self.app, source, path, root_path, receive, send)
        raise ValueError(f"unknown ASGI scope type {kind!r}")

    # Servers given app.asgi tell ASGI 3 apps by a coroutine-function __call__.
    markcoroutinefunction(__call__)

    async def http(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        """Serve one HTTP request."""
        app = self.app
        method = scope["method"]
        root_path = scope.get("root_path", "")
        path = _below_root(scope["path"], root_path) if root_path else scope["path"]
        route, params, outcome = app._resolve(method, path)
        source = ASGISource(scope, receive)
        request = Request(app, source, method, path, root_path, params, route)
        try:
            if route is not None and outcome is None and route.is_async and not app._stages:
                # The common case: App._run_handler's work for an async handler
                # without middleware, done here rather than in a coroutine of
                # its own. Under a server this path runs with cold caches: a
                # call saved is worth about three times what timeit shows
                # (measured as CPU time per request under uvicorn).
                try:
                    response = to_response(await route.endpoint(request, **params))
                    if response.stream is not None and isinstance(response, FileResponse):
                        response = await app._prepare_file(response, request, True)
                except Exception as exc:
                    response = await app._handle_error(request, exc, True)
            else:
                response = await app._respond(request, outcome, True)
            if response.stream is None and method != "HEAD":
                # The common case, sent right here: a coroutine less.
                await send(_start_message(response))
                await send({"type": "http.response.body", "body": response.body})
            else:
                await self._send(response, request, source, send, method == "HEAD")
            if request._background is not None or response.background is not None:
                # The last body message is sent (or the client left): the
                # response is over, and the uploads are still open.
                tasks = combine(request._background, response.background)
                if tasks is not None:
                    await tasks.run(app.thread_pool.run)
        finally:
            if request._resources is not None:
                if request._release_blocks():
                    # Closing spooled uploads deletes files: not on the loop.
                    await app.thread_pool.run(request._release)
                else:
                    request._release()

    async def _send(
        self, response: Response, request: Request, source: ASGISource, send: ASGISend, head: bool
    ) -> None:
        stream = response.stream
        await send(_start_message(response))
        if stream is None:
            await send({"type": "http.response.body", "body": b"" if head else response.body})
            return
        if isinstance(stream, FileBody) and not head:
            extensions = source.scope.get("extensions") or {}
            if "http.response.pathsend" in extensions and stream.whole:
                # The server opens the path and sends the file itself.
                await send({"type": "http.response.pathsend", "path": stream.path})
                return
            if "http.response.zerocopysend" in extensions:
                await _zerocopy_send(stream, send)
                return
        if head:
            # Close the body itself: a wrapper that never started would not.
            close = getattr(stream, "close", None)
            if hasattr(stream, "aclose"):
                await _aclose(stream)
            elif close is not None:
                await self.app.thread_pool.run(close)
            await send({"type": "http.response.body", "body": b""})
            return
        if hasattr(stream, "__aiter__"):
            chunks: AsyncIterable[Any] = stream  # type: ignore[assignment]
        else:
            chunks = self.app.thread_pool.iterate(stream)
        if source.can_watch_disconnect(request):
            if not await _stream_until_disconnect(chunks, request, source.receive, send):
                return
        elif not await _stream(chunks, request, send):
            return
        await send({"type": "http.response.body", "body": b""})


# Content-Type and Content-Length pairs already encoded: most responses send
# the same few. Only these two names: other values (cookies) must not linger.
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_CACHED_NAMES = frozenset(("content-type", "content-length"))
_CACHE_SIZE = 512


def _start_message(response: Response) -> dict[str, Any]:
    # A loop, not a comprehension: before Python 3.12 that is a function
    # call more on every response.
    headers = []
    for pair in response.raw_headers:
        encoded = _ENCODED.get(pair)
        if encoded is None:
            name, value = pair
            encoded = (name.encode("latin-1"), value.encode("latin-1"))
            if name in _CACHED_NAMES and len(_ENCODED) < _CACHE_SIZE:
                _ENCODED[pair] = encoded
        headers.append(encoded)
    return {"type": "http.response.start", "status": response.status_code, "headers": headers}


def _below_root(path: str, root_path: str) -> str:
    # The ASGI spec's path includes root_path (SCRIPT_NAME is not part of
    # WSGI's PATH_INFO); routes match what lies below the mount point.
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        return path[len(root_path) :] or "/"
    return path


async def _stream(chunks: AsyncIterable[Any], request: Request, send: ASGISend) -> bool:
    """Send every chunk; False if the response could not be completed.

    An error raised by the body after the headers went out is logged and the
    response is left incomplete, so the server closes the connection and the
    client can tell it is truncated (a final empty chunk would make it look
    complete).
    """
    try:
        async for chunk in chunks:
            body = chunk.encode() if isinstance(chunk, str) else chunk
            if body:
                try:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                except OSError:
                    # ASGI 2.4 servers raise this when the client went away.
                    return False
    except Exception:
        logger.exception("Exception in the streamed body of %s %s", request.method, request.path)
        return False
    finally:
        await _aclose(chunks)
    return True


async def _stream_until_disconnect(
    chunks: AsyncIterable[Any], request: Request, receive: ASGIReceive, send: ASGISend
) -> bool:
    """Stream while listening for ``http.disconnect``; stop the body when it comes.

    Servers such as uvicorn drop what is sent after a disconnect without
    saying so, so without listening a generator (an event stream waiting for
    its next event) would run on for nobody.
    """
    loop = asyncio.get_running_loop()
    sender = loop.create_task(_stream(chunks, request, send))
    watcher = loop.create_task(_wait_for_disconnect(receive))
    try:
        await asyncio.wait((sender, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not sender.done():
            # Cancelling the sender throws CancelledError into the body's
            # pending await, then closes it: its finally clauses run.
            sender.cancel()
        await asyncio.wait((sender, watcher))
    return not sender.cancelled() and sender.result()


async def _zerocopy_send(body: FileBody, send: ASGISend) -> None:
    """Send a file body through the ``http.response.zerocopysend`` extension.

    The server copies each span from the open file to the socket itself; the
    multipart heads, if any, go as ordinary body messages between them. The
    file is the app's to close (the request's cleanup does it).
    """
    try:
        for segment in body.segments:
            if isinstance(segment, bytes):
                message = {"type": "http.response.body", "body": segment, "more_body": True}
            else:
                offset, count = segment
                message = {
                    "type": "http.response.zerocopysend",
                    "file": body.file,
                    "offset": offset,
                    "count": count,
                    "more_body": True,
                }
            await send(message)
    except OSError:
        return  # the client went away (ASGI 2.4): leave the response incomplete
    await send({"type": "http.response.body", "body": b""})


async def _wait_for_disconnect(receive: ASGIReceive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _aclose(chunks: object) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


async def _lifespan(app: App, receive: ASGIReceive, send: ASGISend) -> None:
    """The lifespan protocol: start on ``lifespan.startup``, stop on ``lifespan.shutdown``.

    Both happen in this one task, which the server keeps running in between,
    so an async lifespan context is entered and left in the same task. A
    failure goes to the server as ``...failed`` with the traceback as its
    message (uvicorn and gunicorn print it and exit), and is raised as well,
    for whoever runs the app in-process (the test client).
    """
    lifespan = app._lifespan
    run = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                run = lifespan.new_run()
                await lifespan.start(run, app.thread_pool.run)
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": _describe(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                if run is not None:
                    await lifespan.stop(run, app.thread_pool.run)
            except Exception as exc:
                await send({"type": "lifespan.shutdown.failed", "message": _describe(exc)})
                raise
            await send({"type": "lifespan.shutdown.complete"})
            return


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


class ASGISource:
    """A request's view of ``scope`` and ``receive``."""

    __slots__ = ("body_complete", "receive", "scope")
    interface = "asgi"

    def __init__(self, scope: ASGIScope, receive: ASGIReceive) -> None:
        self.scope = scope
        self.receive = receive
        #: Whether the last body message was received.
        self.body_complete = False

    def can_watch_disconnect(self, request: Request) -> bool:
        """Whether listening on ``receive`` during the response steals nothing.

        True once the body was read to its end, or when there is none; a
        body that is still unread may be what the response streams
        (``StreamingResponse(request.astream())``), so it is left alone.
        """
        if self.body_complete:
            return True
        headers = request.headers
        length = headers.get("content-length")
        if length is not None:
            return length == "0"
        return "transfer-encoding" not in headers

    def header_items(self) -> list[tuple[str, str]]:
        return [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self.scope.get("headers", ())
        ]

    def query_string(self) -> str:
        return self.scope.get("query_string", b"").decode("latin-1")  # type: ignore[no-any-return]

    def header(self, name: str) -> str | None:
        wanted = name.encode("latin-1")
        for key, value in self.scope.get("headers", ()):
            if key == wanted:
                return value.decode("latin-1")  # type: ignore[no-any-return]
        return None

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
            if not message.get("more_body", False):
                self.body_complete = True
                if body:
                    yield body
                return
            if body:
                yield body

    def iter_body(self) -> Iterator[bytes]:
        # A sync handler runs in a pool thread; each chunk is awaited on the
        # server's loop through asgiref's async_to_sync.
        chunks = self.aiter_body()
        while True:
            chunk = call_async_from_thread(lambda: anext(chunks, _DONE))
            if chunk is _DONE:
                return
            yield chunk
