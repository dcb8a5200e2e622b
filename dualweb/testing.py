"""TestClient: an httpx.Client that calls the app in-process, as WSGI or as ASGI.

Both modes have the same API. In ASGI mode the app runs on an event loop in a
background thread, driven synchronously from the test; streaming responses
arrive chunk by chunk in both modes. ASGI mode also speaks WebSocket
(``client.websocket_connect``).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import unquote_to_bytes

import httpx

from ._types import ASGIApp, ASGIMessage, WSGIApp
from .app import App
from .responses import dump_json
from .websockets import WebSocketClosed, WebSocketDisconnect

Interface = Literal["wsgi", "asgi"]
_Client = TypeVar("_Client", bound="TestClient")


class TestClient(httpx.Client):
    """``TestClient(app, interface="wsgi")`` or ``interface="asgi"``.

    ``wrap_wsgi`` lets a test wrap the WSGI callable (for example in
    ``wsgiref.validate.validator``) before requests reach it.

    A dualweb App is started when the client is entered or before its first
    request, and shut down when the client closes (see docs/lifespan.md);
    ``lifespan=True`` does the same for another callable (ASGI: through the
    lifespan protocol), ``lifespan=False`` turns it off.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: Any,
        interface: Interface = "wsgi",
        *,
        base_url: str = "http://testserver",
        client: tuple[str, int] = ("127.0.0.1", 50000),
        wrap_wsgi: Callable[[WSGIApp], WSGIApp] | None = None,
        lifespan: bool | None = None,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.interface = interface
        transport: httpx.BaseTransport
        if interface == "wsgi":
            wsgi_app: WSGIApp = getattr(app, "wsgi", app)
            if wrap_wsgi is not None:
                wsgi_app = wrap_wsgi(wsgi_app)
            transport = _WSGITransport(wsgi_app, client)
        elif interface == "asgi":
            transport = _ASGITransport(getattr(app, "asgi", app), client)
        else:
            raise ValueError(f"interface must be 'wsgi' or 'asgi', not {interface!r}")
        super().__init__(transport=transport, base_url=base_url, **kwargs)
        #: Run the app's lifespan: by default only for a dualweb App, not for
        #: other callables (which may not speak the ASGI lifespan protocol).
        self.lifespan = isinstance(app, App) if lifespan is None else lifespan
        self._lifespan: _AppLifespan | _ASGILifespan | None = None

    # -- the app's lifespan: started on entering or before the first request ------

    def __enter__(self: _Client) -> _Client:
        super().__enter__()
        try:
            self._start_lifespan()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        self.close()  # httpx's __exit__ does not call it: the app's shutdown is there

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        self._start_lifespan()
        return super().send(request, **kwargs)

    def _start_lifespan(self) -> None:
        """Start the app once, as a server does before serving; raise what startup raised."""
        if self._lifespan is not None or not self.lifespan:
            return
        transport = self._transport
        if isinstance(transport, _ASGITransport):
            self._lifespan = transport.lifespan = _ASGILifespan(transport)
        else:
            self._lifespan = _AppLifespan(self.app)
        self._lifespan.startup()

    def websocket_connect(
        self,
        url: str | httpx.URL,
        subprotocols: Sequence[str] | None = None,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        params: Any = None,
        timeout: float | None = 10.0,
    ) -> WebSocketSession:
        """Open a WebSocket to the app (ASGI only): use it as ``with ... as ws``.

        Returns once the app accepted; raises :class:`WebSocketRejected` if
        it refused, the app's own exception if it raised first.
        ``timeout`` bounds each wait for the app (None: no bound).
        """
        transport = self._transport
        if not isinstance(transport, _ASGITransport):
            raise RuntimeError("WebSockets need the ASGI interface: TestClient(app, 'asgi')")
        self._start_lifespan()
        # build_request merges base_url, params, default headers and cookies.
        request = self.build_request("GET", url, params=params, headers=headers)
        scope = transport.websocket_scope(request, list(subprotocols or ()))
        return WebSocketSession(transport, scope, timeout)

    def close(self) -> None:
        super().close()
        transport = self._transport
        if isinstance(transport, _ASGITransport):
            transport.shutdown()  # the lifespan's shutdown included
        elif self._lifespan is not None:
            self._lifespan.shutdown()


def _path_and_query(url: httpx.URL) -> tuple[bytes, bytes]:
    raw_path, _, query = url.raw_path.partition(b"?")
    return raw_path, query


class _WSGITransport(httpx.BaseTransport):
    """Builds an environ as gunicorn does and streams the app's iterable."""

    def __init__(self, app: WSGIApp, client: tuple[str, int]) -> None:
        self.app = app
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw_path, query = _path_and_query(request.url)
        body = request.read()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "SERVER_NAME": request.url.host,
            "SERVER_PORT": str(request.url.port or {"https": 443}.get(request.url.scheme, 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.client[0],
            "REMOTE_PORT": str(self.client[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.url.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            # As gunicorn does: the body ends at EOF even without Content-Length.
            "wsgi.input_terminated": True,
        }
        for name, value in request.headers.raw:
            key = name.decode("latin-1").upper().replace("-", "_")
            text = value.decode("latin-1")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = text
                continue
            key = "HTTP_" + key
            # Repeated fields are joined, as WSGI servers do.
            environ[key] = f"{environ[key]},{text}" if key in environ else text
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: None

        result = self.app(environ, start_response)
        iterator = iter(result)
        failure: BaseException | None = None
        try:
            first = next(iterator)
        except StopIteration:
            first = b""
        except Exception as exc:
            _close(result)
            if not started:
                raise
            # The headers are out, as a server would have sent them.
            first, failure = b"", exc
        status, headers = started
        return httpx.Response(
            int(status[:3]),
            headers=headers,
            stream=_WSGIStream(first, iterator, result, failure),
            extensions={"reason_phrase": status[4:].encode("latin-1")},
        )


def _close(result: object) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


class _WSGIStream(httpx.SyncByteStream):
    def __init__(
        self,
        first: bytes,
        iterator: Iterator[bytes],
        result: object,
        failure: BaseException | None,
    ) -> None:
        self.first = first
        self.iterator = iterator
        self.result = result
        self.failure = failure

    def __iter__(self) -> Iterator[bytes]:
        # An error in the body reaches the server, which drops the
        # connection: the client sees a truncated response, as here.
        if self.failure is not None:
            raise _truncated() from self.failure
        if self.first:
            yield self.first
        try:
            yield from self.iterator
        except Exception as exc:
            raise _truncated() from exc

    def close(self) -> None:
        _close(self.result)


def _truncated() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("the app ended the response before its body was complete")


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


# -- WebSocket ----------------------------------------------------------------------------

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
        self._send({"type": "websocket.receive", "text": text})

    def send_bytes(self, data: bytes) -> None:
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
        message = self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError(f"expected a text message, got binary {message[:40]!r}")
        return message

    def receive_bytes(self, timeout: float | None = None) -> bytes:
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
        deadline = time.monotonic() + _DISCONNECT_GRACE
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


# -- the app's lifespan --------------------------------------------------------------------


class _AppLifespan:
    """WSGI mode: a dualweb App's own startup and shutdown (other WSGI apps have none)."""

    def __init__(self, app: Any) -> None:
        self.app = app if isinstance(app, App) else None
        self.attempted = False

    def startup(self) -> None:
        if self.app is not None:
            self.attempted = True
            self.app.startup()

    def shutdown(self) -> None:
        # Also after a failed startup, so that the next client tries again.
        if self.attempted:
            self.attempted = False
            assert self.app is not None
            self.app.shutdown()


class _LifespanEnded:
    """The app returned from the lifespan scope, or raised ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


_LIFESPAN_REPLIES = {
    "lifespan.startup.complete",
    "lifespan.startup.failed",
    "lifespan.shutdown.complete",
    "lifespan.shutdown.failed",
}


class _ASGILifespan:
    """ASGI mode: the lifespan protocol, spoken as a server speaks it.

    An app that raises or returns before answering ``lifespan.startup``
    does not support the protocol, and is served without it (as uvicorn's
    default ``--lifespan auto`` does). A ``...failed`` answer raises the
    app's own exception if it raised one, else a RuntimeError with its
    message.
    """

    def __init__(self, transport: _ASGITransport) -> None:
        self.transport = transport
        self.replies: queue.Queue[ASGIMessage | _LifespanEnded] = queue.Queue()
        self.inbox: asyncio.Queue[ASGIMessage] | None = None
        self.task: asyncio.Task[None] | None = None
        self.running = False

    def startup(self) -> None:
        loop = self.transport.loop
        asyncio.run_coroutine_threadsafe(self._run(), loop)
        reply = self.replies.get()
        if isinstance(reply, _LifespanEnded):
            return  # no lifespan support
        if reply["type"] != "lifespan.startup.complete":
            raise self._failure(reply)
        self.running = True

    def shutdown(self) -> None:
        if not self.running:
            return
        self.running = False
        loop = self.transport.loop
        # Requests still finishing (background tasks) end first, as a server
        # lets them before it shuts the app down.
        finishing = asyncio.run_coroutine_threadsafe(self._requests_done(), loop)
        finishing.result()
        assert self.inbox is not None
        loop.call_soon_threadsafe(self.inbox.put_nowait, {"type": "lifespan.shutdown"})
        reply = self.replies.get()
        if isinstance(reply, _LifespanEnded):
            if isinstance(reply.error, Exception):
                raise reply.error
            return
        if reply["type"] != "lifespan.shutdown.complete":
            raise self._failure(reply)

    async def _run(self) -> None:
        self.task = asyncio.current_task()
        self.inbox = asyncio.Queue()
        self.inbox.put_nowait({"type": "lifespan.startup"})
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": {},
        }
        try:
            await self.transport.app(scope, self.inbox.get, self._send)
        except BaseException as exc:
            self.replies.put(_LifespanEnded(exc))
            raise
        self.replies.put(_LifespanEnded(None))

    async def _send(self, message: ASGIMessage) -> None:
        if message["type"] not in _LIFESPAN_REPLIES:
            raise RuntimeError(f"unexpected message in the lifespan scope: {message['type']!r}")
        self.replies.put(message)

    async def _requests_done(self) -> None:
        others = asyncio.all_tasks() - {asyncio.current_task(), self.task}
        if others:
            await asyncio.wait(others, timeout=_DISCONNECT_GRACE)

    def _failure(self, reply: ASGIMessage) -> Exception:
        """The app's own exception (it raises right after the message), or the message."""
        try:
            ended = self.replies.get(timeout=_DISCONNECT_GRACE)
        except queue.Empty:
            ended = None
        if isinstance(ended, _LifespanEnded) and isinstance(ended.error, Exception):
            return ended.error
        return RuntimeError(f"{reply['type']}: {reply.get('message', '')}")
