"""Serving one request with a mounted ASGI app, as a dualweb Response.

The app runs as a task next to the request: under ASGI on the server's loop,
under WSGI on the worker thread's persistent loop (the one async handlers
run on), which keeps the task between the steps of the response. Its
``receive`` reads the request body on demand from the server; what it
``send``s becomes a :class:`Response`: whole when the app has sent it all by
the time the headers arrive, else streamed chunk by chunk, the app held back
(backpressure) while more than 64 KiB wait to be sent.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, MutableMapping
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from .exceptions import HTTPException
from .responses import BODILESS_STATUSES, Response

if TYPE_CHECKING:
    from ._types import WSGIEnvironment
    from .requests import Request

    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Coroutine[Any, Any, None]]

logger = logging.getLogger("dualweb")

#: Body bytes a mounted app may send ahead of the client before send() waits.
_HIGH_WATER = 64 * 1024

#: Scope extensions a mounted app may use through the bridge. The others
#: (pathsend, zerocopysend, trailers, early hints) need messages that only
#: the server understands, so they are not offered.
_KEPT_EXTENSIONS = ("tls",)

#: What a path segment may hold unescaped (RFC 3986 §3.3: pchar, and "/").
_PATH_SAFE = "/!$&'()*+,;=:@~"


def scope_from_scope(scope: MutableMapping[str, Any], root_path: str, path: str) -> dict[str, Any]:
    """The scope of an ASGI request for the app mounted at ``root_path``.

    ``path`` keeps the root path, as the ASGI spec has it; ``root_path`` grows.
    """
    child = dict(scope)
    child["root_path"] = root_path
    child["path"] = root_path + path
    extensions = scope.get("extensions")
    if extensions:
        child["extensions"] = {k: v for k, v in extensions.items() if k in _KEPT_EXTENSIONS}
    return child


def scope_from_environ(
    environ: WSGIEnvironment, root_path: str, path: str, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    """The ASGI scope of a WSGI request, for the app mounted at ``root_path``."""
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    client = environ.get("REMOTE_ADDR")
    client_port = str(environ.get("REMOTE_PORT", ""))
    server_port = str(environ.get("SERVER_PORT", ""))
    full_path = root_path + path
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": protocol.partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": full_path,
        # What a server receives is percent-encoded; the environ has it decoded.
        "raw_path": quote(full_path, safe=_PATH_SAFE).encode("ascii"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": root_path,
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": (client, int(client_port) if client_port.isdigit() else None)
        if client
        else None,
        "server": (environ["SERVER_NAME"], int(server_port) if server_port.isdigit() else None)
        if environ.get("SERVER_NAME")
        else None,
        "extensions": {},
    }


async def call_asgi_app(app: ASGIApp, scope: dict[str, Any], request: Request) -> Response:
    """Run ``app`` for the request until it has sent the headers; return the response."""
    exchange = _Exchange(request)
    task = asyncio.get_running_loop().create_task(app(scope, exchange.receive, exchange.send))
    exchange.task = task
    task.add_done_callback(exchange.wake)
    # The app's end is awaited after the response, whatever the response is
    # (an after hook may replace it), so no task outlives the request.
    request.add_task(exchange.finish)
    try:
        while exchange.status is None and exchange.error is None and not task.done():
            await exchange.wait()
    except BaseException:
        task.cancel()  # this request is being cancelled: so is the app's task
        raise
    if exchange.error is not None:
        raise exchange.error
    if exchange.status is None:
        exchange.raise_failure(f"the mounted ASGI app {app!r} returned without a response")
    status = exchange.status
    headers = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in exchange.headers
    ]
    if not exchange.complete:
        return Response._as_given(status, headers, b"", _ASGIBody(exchange))
    body = exchange.take()
    response = Response._as_given(status, headers, body, None)
    if (
        status not in BODILESS_STATUSES
        and request.method != "HEAD"
        and not any(name == "content-length" for name, _ in response.raw_headers)
    ):
        response.raw_headers.append(("content-length", str(len(body))))
    return response


class _Exchange:
    """The messages between a mounted ASGI app and the response built from them."""

    __slots__ = (
        "_arrived",
        "_body",
        "_drained",
        "_ended",
        "buffered",
        "chunks",
        "closed",
        "complete",
        "error",
        "headers",
        "reported",
        "status",
        "task",
    )

    def __init__(self, request: Request) -> None:
        self._body: AsyncIterator[bytes] | None = request.astream()
        self.task: asyncio.Task[None] | None = None
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        #: The app sent its last body message.
        self.complete = False
        #: The response is over for the client (sent, or abandoned): the app's
        #: receive() says http.disconnect, its send() raises.
        self.closed = False
        #: Why the request body ended early (body limit, client gone), if it did.
        self.error: HTTPException | None = None
        #: Whether an exception of the app was already raised to the adapters.
        self.reported = False
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()
        self._ended = asyncio.Event()

    # -- the app's side ------------------------------------------------------------

    async def receive(self) -> Message:
        if self._body is not None:
            try:
                chunk = await anext(self._body, None)
            except HTTPException as exc:
                self.error = exc
                self._body = None
                self.close()
                # The request is answered with the error now, whatever the
                # app does with the disconnect (it is cancelled if it goes on).
                self.wake()
                return {"type": "http.disconnect"}
            if chunk is not None:
                return {"type": "http.request", "body": chunk, "more_body": True}
            self._body = None
            return {"type": "http.request", "body": b"", "more_body": False}
        # After the body, receive() waits for the end, as with a server.
        await self._ended.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.closed:
            # ASGI 2.4: sending on a closed connection raises an OSError.
            raise OSError("the client is gone")
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("http.response.start sent twice")
            self.status = message["status"]
            self.headers = list(message.get("headers", ()))
        elif kind == "http.response.body":
            if self.status is None:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                raise RuntimeError("http.response.body sent after the response was complete")
            body = message.get("body", b"")
            # 204, 304 and 1xx never have a body (RFC 9110 §6.4.1): dropped.
            if body and self.status not in BODILESS_STATUSES:
                self.chunks.append(bytes(body))
                self.buffered += len(body)
            self.complete = not message.get("more_body", False)
        else:
            raise RuntimeError(f"unexpected ASGI message from a mounted app: {kind!r}")
        self._arrived.set()
        while self.buffered > _HIGH_WATER and not self.closed:
            self._drained.clear()
            await self._drained.wait()
        if self.closed and not self.complete:
            raise OSError("the client is gone")

    # -- the response's side -----------------------------------------------------------

    def wake(self, _: object = None) -> None:
        self._arrived.set()

    async def wait(self) -> None:
        """Wait for the next message from the app (or its end)."""
        self._arrived.clear()
        await self._arrived.wait()

    def take(self) -> bytes:
        """Everything the app sent that is not sent on yet; lets the app go on."""
        body = self.chunks.popleft() if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        self._drained.set()
        return body

    def raise_failure(self, otherwise: str) -> NoReturn:
        """Raise the ended app's exception (once: finish() won't log it), or ``otherwise``."""
        assert self.task is not None
        self.reported = True
        error = None if self.task.cancelled() else self.task.exception()
        if error is not None:
            raise error
        raise RuntimeError(otherwise)

    def close(self) -> None:
        self.closed = True
        self._ended.set()
        self._drained.set()

    async def finish(self) -> None:
        """After the response: end the app, cancelling it if its body was abandoned."""
        self.close()
        task = self.task
        assert task is not None
        if not self.complete:
            task.cancel()
        await asyncio.wait((task,))
        if task.cancelled() or self.reported:
            return
        error = task.exception()
        if error is not None:
            logger.error("Exception in a mounted ASGI app", exc_info=error)


class _ASGIBody:
    """The body of a mounted ASGI app's response, as the app sends it.

    A class rather than an async generator, so that ``aclose()`` marks the
    response as over even when nothing was iterated.
    """

    __slots__ = ("_exchange",)

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    def __aiter__(self) -> _ASGIBody:
        return self

    async def __anext__(self) -> bytes:
        exchange = self._exchange
        task = exchange.task
        assert task is not None
        while not exchange.chunks:
            if exchange.complete:
                raise StopAsyncIteration
            if task.done():
                exchange.raise_failure(
                    "the mounted ASGI app returned before its response was complete"
                )
            await exchange.wait()
        return exchange.take()

    async def aclose(self) -> None:
        self._exchange.close()
