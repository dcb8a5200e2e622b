"""TestClient: an httpx.Client that calls the app in-process, as WSGI or as ASGI.

Both modes have the same API. In ASGI mode the app runs on an event loop in a
background thread, driven synchronously from the test; streaming responses
arrive chunk by chunk in both modes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

import httpx

from ._types import ASGIApp, ASGIMessage, WSGIApp

Interface = Literal["wsgi", "asgi"]


class TestClient(httpx.Client):
    """``TestClient(app, interface="wsgi")`` or ``interface="asgi"``.

    ``wrap_wsgi`` lets a test wrap the WSGI callable (for example in
    ``wsgiref.validate.validator``) before requests reach it.
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

    def close(self) -> None:
        super().close()
        transport = self._transport
        if isinstance(transport, _ASGITransport):
            transport.shutdown()


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

    def shutdown(self) -> None:
        if not self.loop.is_closed():
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

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw_path, query = _path_and_query(request.url)
        body = request.read()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.url.scheme,
            "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "server": (
                request.url.host,
                request.url.port or {"https": 443}.get(request.url.scheme, 80),
            ),
            "client": self.client,
        }
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
