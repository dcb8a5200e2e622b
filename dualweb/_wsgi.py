"""The WSGI adapter (PEP 3333): ``environ`` in, ``start_response`` + iterable out."""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._bridge import drive_sync, iterate_async, run_coroutine
from .background import BackgroundTasks, combine
from .datastructures import Address
from .files import FileBody
from .requests import ClientDisconnect, Request
from .responses import STATUS_LINES, Response

if TYPE_CHECKING:
    from ._types import StartResponse, WSGIEnvironment
    from .app import App

_CHUNK_SIZE = 64 * 1024
logger = logging.getLogger("dualweb")


def _decode_environ_path(value: str) -> str:
    # PEP 3333 hands paths over as latin-1 decoded bytes; URLs carry UTF-8.
    # Undecodable bytes become U+FFFD, as uvicorn does for ASGI's path.
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "replace")


class WSGIAdapter:
    """The App's WSGI callable."""

    __slots__ = ("app", "lifespan")

    def __init__(self, app: App) -> None:
        self.app = app
        self.lifespan = app._lifespan

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        app = self.app
        if not self.lifespan.ready:
            # WSGI has no lifespan protocol: the first request of each
            # process starts the app (see dualweb.lifespan).
            failure = self.lifespan.start_for_request()
            if failure is not None:
                return _startup_failed(app, failure, start_response)
        method = environ["REQUEST_METHOD"]
        path = _decode_environ_path(environ.get("PATH_INFO") or "/")
        root_path = _decode_environ_path(environ.get("SCRIPT_NAME", ""))
        route, params, outcome = app._resolve(method, path)
        request = Request(app, WSGISource(environ), method, path, root_path, params, route)
        dispatch = app._respond(request, outcome, False)
        head = method == "HEAD"
        try:
            response = run_coroutine(dispatch) if app._needs_loop(route) else drive_sync(dispatch)
            if (
                response.stream is None
                and request._background is None
                and response.background is None
            ):
                # The common case: a whole body, nothing to run after it.
                start_response(STATUS_LINES[response.status_code], response.raw_headers)
                request._release()
                return [] if head else [response.body]
            tasks = combine(request._background, response.background)
            if tasks is not None:
                finish = _Finish(request, tasks)
                return _send(response, request, environ, start_response, head, finish)
            body = _send(response, request, environ, start_response, head, None)
        except BaseException:
            request._release()
            raise
        if response.stream is None or head:
            request._release()
        return body


def _startup_failed(app: App, error: Exception, start_response: StartResponse) -> list[bytes]:
    """The answer of a process whose app could not start (the error is logged)."""
    if app.debug:
        text = "".join(traceback.format_exception(error))
    else:
        text = "Application startup failed"
    body = text.encode()
    headers = [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))]
    start_response(STATUS_LINES[500], headers)
    return [body]


def _send(
    response: Response,
    request: Request,
    environ: WSGIEnvironment,
    start_response: StartResponse,
    head: bool,
    finish: _Finish | None,
) -> Iterable[bytes]:
    """Start the response; return the iterable for the server.

    With ``finish`` (the request has background tasks), the iterable's
    ``close()`` calls it; without, the caller releases a streamless
    request and a stream's iterable does.
    """
    stream = response.stream
    start_response(STATUS_LINES[response.status_code], response.raw_headers)
    if stream is None:
        body = [] if head else [response.body]
        return body if finish is None else _Closing(body, finish)
    if isinstance(stream, FileBody) and not head:
        return _send_file(stream, request, environ, finish or request._release)
    if head:
        # Close the body itself: a wrapper that never started would not.
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            run_coroutine(aclose())
        else:
            _close(stream)
        return [] if finish is None else _Closing([], finish)
    chunks: Iterable[Any] = iterate_async(stream) if hasattr(stream, "__aiter__") else stream  # type: ignore[arg-type]
    # The request ends in close(), not when the iteration ends: tasks must
    # wait until the server is done (the last chunk of a chunked response
    # goes out after the iteration), and a server may call close() without
    # iterating at all, when a generator's finally clause would never run.
    return _Closing(
        _encode_chunks(chunks, request, None), finish or request._release, unstarted=stream
    )


def _encode_chunks(
    chunks: Iterable[bytes | str], request: Request, end: Callable[[], None] | None
) -> Iterator[bytes]:
    # A generator, so that the server's close() (PEP 3333) reaches the
    # response's own iterator through the finally clause; ``end`` (if any)
    # runs after it.
    try:
        for chunk in chunks:
            yield chunk.encode() if isinstance(chunk, str) else chunk
    except Exception:
        # The headers are out: all that is left is to drop the connection,
        # which the server does when an error reaches it, so the client can
        # tell the body is truncated. The server logs what reaches it too:
        # a short StreamAborted, not the body's error a second time.
        logger.exception("Exception in the streamed body of %s %s", request.method, request.path)
        raise StreamAborted(
            f"the streamed body of {request.method} {request.path} failed"
        ) from None
    finally:
        try:
            _close(chunks)
        finally:
            if end is not None:
                end()


def _send_file(
    body: FileBody, request: Request, environ: WSGIEnvironment, end: Callable[[], None]
) -> Iterable[bytes]:
    file_body = _FileIterable(body, request, end)
    file_wrapper = environ.get("wsgi.file_wrapper")
    if file_wrapper is not None and body.whole:
        # PEP 3333's optional fast path: gunicorn recognises its own wrapper
        # and sends the file with sendfile(2), Content-Length bytes of it.
        return file_wrapper(file_body, _CHUNK_SIZE)  # type: ignore[no-any-return]
    return file_body


class _FileIterable:
    """A file body as the WSGI iterable, or as the file-like for ``wsgi.file_wrapper``.

    ``close()`` (which PEP 3333 servers call, and file wrappers pass on)
    ends the request (``end``) even when the body was never iterated, so the
    file is closed however the response ends.
    """

    __slots__ = ("body", "chunks", "end")

    def __init__(self, body: FileBody, request: Request, end: Callable[[], None]) -> None:
        self.body = body
        self.end = end
        self.chunks = _encode_chunks(body, request, None)

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def read(self, size: int = -1) -> bytes:
        return self.body.read(size)

    def fileno(self) -> int:
        return self.body.fileno()

    def close(self) -> None:
        try:
            _close(self.chunks)
        finally:
            self.end()


class _Closing:
    """A body as the WSGI iterable, whose ``close()`` ends the request.

    PEP 3333 servers call ``close()`` once they are done with the response
    (sent whole or not): the place for what must come after it.
    """

    __slots__ = ("body", "end", "unstarted")

    def __init__(
        self, body: Iterable[bytes], end: Callable[[], None], *, unstarted: object = None
    ) -> None:
        self.body = body
        self.end = end
        #: The response's own stream, closed here too: when the server never
        #: iterated ``body``, closing ``body`` does not reach it.
        self.unstarted = unstarted

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            stream = self.unstarted
            if stream is not None and inspect.getgeneratorstate(self.body) != inspect.GEN_CREATED:  # type: ignore[arg-type]
                stream = None  # the body's own finally clause closes it
            _close(self.body)
            if stream is not None:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    run_coroutine(aclose())
                else:
                    _close(stream)
        finally:
            self.end()


class _Finish:
    """How a request with background tasks ends: the tasks, then its resources released."""

    __slots__ = ("request", "tasks")

    def __init__(self, request: Request, tasks: BackgroundTasks) -> None:
        self.request = request
        self.tasks: BackgroundTasks | None = tasks

    def __call__(self) -> None:
        tasks, self.tasks = self.tasks, None  # once, even if close() comes twice
        try:
            if tasks is not None and tasks.is_async:
                # On the worker thread's loop, as async handlers are.
                run_coroutine(tasks.run(None))
            elif tasks is not None:
                drive_sync(tasks.run(None))
        finally:
            self.request._release()


class StreamAborted(Exception):
    """Raised to the WSGI server when a streamed body failed, once dualweb has logged why.

    PEP 3333 gives an application one way to have the connection dropped:
    raise from the iterable.
    """


def _read(stream: Any, size: int) -> bytes:
    try:
        return stream.read(size)  # type: ignore[no-any-return]
    except OSError:
        # The socket under wsgi.input failed (reset by the client, timed
        # out): the body will not come, as when it ends early.
        raise ClientDisconnect() from None


def _close(chunks: object) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


#: Headers that PEP 3333 puts in the environ without the HTTP_ prefix.
_CGI_KEYS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


class WSGISource:
    """A request's view of ``environ``."""

    __slots__ = ("environ",)
    interface = "wsgi"

    def __init__(self, environ: WSGIEnvironment) -> None:
        self.environ = environ

    def header_items(self) -> list[tuple[str, str]]:
        items = []
        for key, value in self.environ.items():
            if key.startswith("HTTP_"):
                if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    continue
                items.append((key[5:].replace("_", "-").lower(), value))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                items.append((key.replace("_", "-").lower(), value))
        return items

    def query_string(self) -> str:
        return self.environ.get("QUERY_STRING", "")  # type: ignore[no-any-return]

    def header(self, name: str) -> str | None:
        key = _CGI_KEYS.get(name) or "HTTP_" + name.upper().replace("-", "_")
        return self.environ.get(key) or None

    def scheme(self) -> str:
        return self.environ.get("wsgi.url_scheme", "http")  # type: ignore[no-any-return]

    def server(self) -> tuple[str, int | None] | None:
        name = self.environ.get("SERVER_NAME")
        if not name:
            return None
        port = self.environ.get("SERVER_PORT", "")
        return name, int(port) if port.isdigit() else None

    def client(self) -> Address | None:
        host = self.environ.get("REMOTE_ADDR")
        if not host:
            return None
        port = str(self.environ.get("REMOTE_PORT", ""))
        return Address(host, int(port) if port.isdigit() else None)

    def iter_body(self) -> Iterator[bytes]:
        stream = self.environ["wsgi.input"]
        declared = self.environ.get("CONTENT_LENGTH", "")
        if declared and declared.isdigit():
            remaining = int(declared)
            while remaining > 0:
                chunk = _read(stream, min(_CHUNK_SIZE, remaining))
                if not chunk:
                    raise ClientDisconnect()
                remaining -= len(chunk)
                yield chunk
        elif self.environ.get("wsgi.input_terminated"):
            # The server de-chunked the body and marks its end with EOF.
            while chunk := _read(stream, _CHUNK_SIZE):
                yield chunk
        # PEP 3333: without Content-Length the application must not read.

    async def aiter_body(self) -> AsyncIterator[bytes]:
        # An async handler under WSGI runs on a loop that belongs to this worker
        # thread and serves only this request, so a blocking read stalls no one.
        for chunk in self.iter_body():
            yield chunk
