"""Serving one request with a mounted WSGI app, as a dualweb Response.

The WSGI app is called on the thread that runs sync handlers: the worker
thread under WSGI, a thread of the App's pool under ASGI (so concurrent
requests run concurrently; see ``mounts``). Its body is read on demand from
the request (``wsgi.input`` pulls one chunk at a time from the server), and
its response becomes a :class:`Response` that the outer App's middleware
sees and the adapters send: whole when the app's first chunk completes it,
else streamed chunk by chunk, ``close()`` called however it ends.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from asgiref.wsgi import WsgiToAsgiInstance

from .exceptions import HTTPException
from .responses import BODILESS_STATUSES, Response

if TYPE_CHECKING:
    from ._types import StartResponse, WSGIEnvironment
    from .requests import Request

    WSGIApp = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


class WSGIInput:
    """``wsgi.input``: the request body, read from the server as the app asks for it.

    The App's body limit applies: past it, or when the client leaves, the
    app reads the end of the body, and the request is answered with the
    error (413, 400) instead of the app's response (:attr:`error`).
    """

    __slots__ = ("_buffer", "_chunks", "error")

    def __init__(self, request: Request) -> None:
        self._chunks: Iterator[bytes] | None = request.stream()
        self._buffer = bytearray()
        #: Why the body ended early, if it did.
        self.error: HTTPException | None = None

    def _fill(self) -> bool:
        """Append the next chunk to the buffer; False at the end of the body."""
        if self._chunks is None:
            return False
        try:
            self._buffer += next(self._chunks)
        except StopIteration:
            self._chunks = None
            return False
        except HTTPException as exc:
            self.error = exc
            self._chunks = None
            return False
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = size if size is not None and size >= 0 else None
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                return self._take(end + 1 if limit is None else min(end + 1, limit))
            if limit is not None and len(self._buffer) >= limit:
                return self._take(limit)
            start = len(self._buffer)
            if not self._fill():
                return self._take(len(self._buffer) if limit is None else limit)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        """Servers' inputs have it; the request's end closes the body."""


class _ASGIEnviron(WsgiToAsgiInstance):
    """asgiref's translation of an ASGI scope into a WSGI environ, fixed where it breaks.

    Only ``build_environ`` is used: asgiref's ``__call__`` reads the whole
    body before calling the app and its ``run_wsgi_app`` runs every app of
    the process on one thread and never calls ``close()``; ``mounts``
    replaces both.
    """

    def __init__(self) -> None:
        super().__init__(None)  # type: ignore[no-untyped-call]

    def build_environ(self, scope: Mapping[str, Any], body: Any) -> WSGIEnvironment:
        # asgiref reads the headers from self.scope, not from its argument.
        self.scope = scope
        # asgiref decodes the query string as ASCII, so a raw non-ASCII byte
        # (which uvicorn passes on) would raise; PEP 3333 strings are latin-1.
        fixed = {**scope, "query_string": b"", "http_version": scope.get("http_version", "1.1")}
        try:
            environ: WSGIEnvironment = super().build_environ(fixed, body)  # type: ignore[no-untyped-call]
        except ValueError:
            raise HTTPException(400, "Too many duplicate headers") from None
        environ["QUERY_STRING"] = scope.get("query_string", b"").decode("latin-1")
        cookies = [value for name, value in scope.get("headers", ()) if name == b"cookie"]
        if len(cookies) > 1:
            # HTTP/2 splits the Cookie header; asgiref joins duplicates with
            # ", ", which is not how cookies are separated.
            environ["HTTP_COOKIE"] = "; ".join(value.decode("latin-1") for value in cookies)
        client = scope.get("client")
        if client and client[1] is not None:
            environ["REMOTE_PORT"] = str(client[1])
        environ["wsgi.input_terminated"] = True
        return environ


def environ_from_scope(
    scope: Mapping[str, Any], root_path: str, path: str, body: WSGIInput
) -> WSGIEnvironment:
    """The environ of an ASGI request whose app is mounted at ``root_path``."""
    child = {**scope, "root_path": root_path, "path": root_path + path}
    return _ASGIEnviron().build_environ(child, body)


def environ_from_environ(
    environ: WSGIEnvironment, raw_prefix: str, body: WSGIInput
) -> WSGIEnvironment:
    """The environ of a WSGI request for the app mounted at ``raw_prefix``.

    ``raw_prefix`` is in the environ's encoding (UTF-8 bytes as latin-1).
    """
    child = dict(environ)
    child["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + raw_prefix
    child["PATH_INFO"] = (environ.get("PATH_INFO") or "")[len(raw_prefix) :]
    child["wsgi.input"] = body
    child["wsgi.input_terminated"] = True
    return child


class _StartResponse:
    """The ``start_response`` a mounted app gets: keeps what it is given (PEP 3333)."""

    __slots__ = ("committed", "headers", "status", "written")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        #: What the app passed to the ``write()`` callable, not yet sent.
        self.written: list[bytes] = []
        #: Whether the headers are past changing (the response is under way).
        self.committed = False

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.committed:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise RuntimeError("start_response() called twice without exc_info")
        code = status[:3]
        if not (code.isdigit() and code.isascii() and status[3:4] in ("", " ")):
            raise ValueError(f"invalid WSGI status line: {status!r}")
        self.status = int(code)
        self.headers = headers
        return self.written.append

    def take_written(self) -> bytes:
        data = b"".join(self.written)
        self.written.clear()
        return data


def call_wsgi_app(app: WSGIApp, environ: WSGIEnvironment, body: WSGIInput, head: bool) -> Response:
    """Call ``app`` and turn what it returns into a Response.

    The app runs until its first non-empty chunk (PEP 3333 lets it call
    ``start_response`` that late); if that chunk completes the body, the
    iterable is closed here and the body sent whole.
    """
    start = _StartResponse()
    # Every step of the app (the call, each chunk, close()) runs in this one
    # context: under ASGI they run on whichever pool thread is free, and a
    # context variable set in one (Flask's stream_with_context) must be
    # there in the next.
    context = contextvars.copy_context()
    result = context.run(app, environ, start)
    try:
        chunks = iter(result)
        first = start.take_written()
        exhausted = False
        while not first:
            chunk = context.run(next, chunks, None)
            if chunk is None:
                exhausted = True
                first = start.take_written()
                break
            first = start.take_written() + chunk
        if not exhausted and isinstance(result, (list, tuple)):
            # A sequence is all there already (PEP 3333 lets a server count
            # the length of a one-item list): sent whole, with Content-Length.
            first += b"".join(chunks)
            exhausted = True
        if body.error is not None:
            # The body was cut short: the app saw its end, the client gets why.
            raise body.error
        if start.status is None:
            raise RuntimeError(f"the mounted WSGI app {app!r} did not call start_response()")
        status = start.status
        # Servers strip what surrounds names and values (Django writes
        # " csrftoken=..." for Set-Cookie); h11 refuses it, so uvicorn would too.
        headers = [(name.strip(), value.strip()) for name, value in start.headers]
        length = _content_length(headers)
        if length is None:
            # An invalid one would make the server fail the response.
            headers = [
                (name, value) for name, value in headers if name.lower() != "content-length"
            ]
        bodiless = status in BODILESS_STATUSES  # never a body (RFC 9110 §6.4.1)
        if not (exhausted or bodiless or (length is not None and len(first) >= length)):
            stream = _WSGIBody(first, chunks, result, start, length, context)
            # In the try: invalid headers must not leave the iterable unclosed.
            response = Response._as_given(status, headers, b"", stream)
            start.committed = True
            return response
    except BaseException:
        context.run(_close, result)
        raise
    context.run(_close, result)
    return _whole_response(status, headers, first, length, head)


def _whole_response(
    status: int, headers: list[tuple[str, str]], body: bytes, length: int | None, head: bool
) -> Response:
    if status in BODILESS_STATUSES:
        body = b""
    elif length is not None:
        body = body[:length]  # servers never send more than Content-Length
    response = Response._as_given(status, headers, body, None)
    if length is None and not head and status not in BODILESS_STATUSES:
        response.raw_headers.append(("content-length", str(len(body))))
    return response


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            value = value.strip()
            return int(value) if value.isdigit() and len(value) < 20 else None
    return None


class _WSGIBody:
    """The rest of a mounted app's body, for the adapters to send.

    A class, not a generator, so that ``close()`` reaches the app's
    iterable even when nothing was iterated (a HEAD request, a replaced
    response, a server that never started).
    """

    __slots__ = ("_chunks", "_context", "_first", "_remaining", "_result", "_start")

    def __init__(
        self,
        first: bytes,
        chunks: Iterator[bytes],
        result: Iterable[bytes],
        start: _StartResponse,
        length: int | None,
        context: contextvars.Context,
    ) -> None:
        self._context = context
        self._first: bytes | None = first
        self._chunks = chunks
        self._result: Iterable[bytes] | None = result
        self._start = start
        self._remaining = length

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return self._context.run(self._next)

    def _next(self) -> bytes:
        chunk = self._first
        if chunk is not None:
            self._first = None
        else:
            chunk = b""
            while not chunk:
                if self._remaining == 0:
                    raise StopIteration
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    # What write() was given last, if anything, then the end.
                    chunk = self._start.take_written()
                    if not chunk:
                        raise
                    self._chunks = iter(())
                else:
                    # write() calls made while producing this chunk came first.
                    chunk = self._start.take_written() + chunk
        if self._remaining is not None:
            # Never more than the app's Content-Length, as servers do.
            chunk = chunk[: self._remaining]
            self._remaining -= len(chunk)
        return chunk

    def close(self) -> None:
        result, self._result = self._result, None
        if result is not None:
            self._context.run(_close, result)


def _close(result: object) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()
