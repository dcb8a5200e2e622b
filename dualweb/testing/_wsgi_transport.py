"""WSGI mode: the app is called in the test's thread; its iterable is streamed."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx

from .._types import WSGIApp
from .._wsgi import StreamAborted
from ._http import _path_and_query, _truncated


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
            # PEP 3333 header values are latin-1 strings: bytes on the wire.
            headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            stream=_WSGIStream(first, iterator, result, failure),
            extensions={"reason_phrase": status[4:].encode("latin-1")},
        )


def _app_error(exc: BaseException) -> BaseException:
    # The adapter logs a failing body and raises StreamAborted to the server
    # in its place; the test wants to see the body's own error.
    if isinstance(exc, StreamAborted) and exc.__context__ is not None:
        return exc.__context__
    return exc


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
            raise _truncated() from _app_error(self.failure)
        if self.first:
            yield self.first
        try:
            yield from self.iterator
        except Exception as exc:
            raise _truncated() from _app_error(exc)

    def close(self) -> None:
        _close(self.result)
