"""Fuzz target: dualweb's request parsing, under WSGI and ASGI alike.

Each input is decoded into one HTTP request (method, path, query string,
headers, cookies, body, and how the body is read) that is sent straight to
an App, as a server would send it, through the WSGI or the ASGI interface.
The App's handlers touch every parser: path converters, query string,
headers, cookies, JSON, url-encoded and multipart forms, streamed parts.
Bad input must end in a 4xx (an HTTPException, a 404 or 405 from the
router) or a redirect; a 500, an exception out of the App, a response
header with a control character, or a traceback in a body is a crash.

With atheris installed (``pip install atheris``)::

    python tools/fuzz_requests.py -atheris_runs=100000
    python tools/fuzz_requests.py -max_total_time=300 [corpus_dir ...]

Without it, or with ``--random``, a plain mutation loop over the seeds runs
the same target (``-atheris_runs`` and ``-max_total_time`` apply to it too).
See docs/fuzzing.md.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import random
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes
from wsgiref.validate import WSGIWarning, validator

try:  # atheris is optional: the plain loop and the tests run without it
    import atheris  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the machine
    atheris = None

if atheris is not None and __name__ == "__main__":  # pragma: no cover - fuzzing only
    # Coverage feedback from the code under test, not only from this file.
    with atheris.instrument_imports(include=["dualweb", "multipart"]):
        import dualweb  # noqa: F401

from dualweb import App, Request
from dualweb.responses import PlainTextResponse

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "QUERY")
#: How a handler reads the body (chosen by the input, sent as a header).
READERS = ("none", "body", "text", "json", "form", "parts", "stream", "parts-skip")
SEPARATOR = b"\xfe\xff"
# RFC 9110 §5.6.2 token: servers refuse other header names before the app.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Bytes a server refuses in a header value (RFC 9110 §5.5: CR, LF, NUL).
_VALUE_FORBIDDEN = re.compile(rb"[\r\n\x00]")
# What an HTTP client percent-encodes in a request target: the server never
# receives these bytes raw.
_TARGET_UNSAFE = re.compile(rb"[\x00-\x20\x22\x23\x3c\x3e\x5c\x5e\x60\x7b-\x7d\x7f-\xff]")
# In the query string, some servers pass bytes past ASCII through as they are.
_QUERY_UNSAFE = re.compile(rb"[\x00-\x20\x23\x7f]")
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class FuzzFailure(AssertionError):
    """The App did what bad input must never make it do."""


@dataclass
class RawRequest:
    """One request, as the bytes a server would have read."""

    interface: str = "wsgi"
    method: str = "GET"
    reader: str = "none"
    disconnect: bool = False  # the client leaves halfway through the body
    chunk_size: int = 0  # 0: the body in one piece
    path: bytes = b"/"
    query: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


def encode(request: RawRequest) -> bytes:
    """The fuzz input that :func:`decode` turns back into ``request``."""
    flags = (
        (request.interface == "asgi")
        | METHODS.index(request.method) << 1
        | READERS.index(request.reader) << 4
        | request.disconnect << 7
    )
    headers = b"\n".join(name + b":" + value for name, value in request.headers)
    return bytes([flags, request.chunk_size]) + SEPARATOR.join(
        [request.path, request.query, headers, request.body]
    )


def decode(data: bytes) -> RawRequest:
    """Any bytes as a request a server could hand over (what it refuses is left out)."""
    flags = data[0] if data else 0
    chunk_size = data[1] if len(data) > 1 else 0
    path, query, headers, body = [*data[2:].split(SEPARATOR, 3), b"", b"", b""][:4]
    pairs = []
    for line in headers.split(b"\n"):
        name, colon, value = line.partition(b":")
        name = name.strip().lower()
        if colon and _TOKEN.fullmatch(name):
            pairs.append((name, _VALUE_FORBIDDEN.sub(b"", value).strip(b" \t")))
    if not path.startswith(b"/"):
        path = b"/" + path
    return RawRequest(
        interface="asgi" if flags & 1 else "wsgi",
        method=METHODS[flags >> 1 & 7],
        reader=READERS[flags >> 4 & 7],
        disconnect=bool(flags & 128),
        chunk_size=chunk_size,
        path=_TARGET_UNSAFE.sub(_percent, path),
        query=_QUERY_UNSAFE.sub(_percent, query),
        headers=pairs,
        body=body,
    )


def _percent(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


# -- the App under test -----------------------------------------------------------------


class _Crashes(logging.Handler):
    """Exceptions the App logged (those behind a 500, and any other)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


def _summary(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    """What the handlers echo: every parser that needs no body."""
    return {
        "params": {name: [type(value).__name__, str(value)] for name, value in params.items()},
        "query": request.query_params.multi_items(),
        "headers": dict(request.headers),
        "cookies": request.cookies,
        "content_type": request.content_type,
        "url": request.url,
    }


def _read_sync(request: Request, reader: str) -> Any:
    if reader == "body":
        return request.body().decode("latin-1")
    if reader == "text":
        return request.text()
    if reader == "json":
        return request.json()
    if reader == "form":
        form = request.form()
        files = [
            [name, upload.filename, upload.content_type, upload.read().decode("latin-1")]
            for name, upload in form.files.multi_items()
        ]
        return [form.multi_items(), files]
    if reader == "parts":
        return [
            [part.name, part.filename, part.content_type, dict(part.headers), part.text()]
            for part in request.parts()
        ]
    if reader == "parts-skip":  # parts left unread: the iterator skips them
        return [part.name for part in request.parts()]
    if reader == "stream":
        return sum(len(chunk) for chunk in request.stream())
    return None


async def _read_async(request: Request, reader: str) -> Any:
    if reader == "body":
        return (await request.abody()).decode("latin-1")
    if reader == "text":
        return await request.atext()
    if reader == "json":
        return await request.ajson()
    if reader == "form":
        form = await request.aform()
        files = [
            [name, upload.filename, upload.content_type, (await upload.aread()).decode("latin-1")]
            for name, upload in form.files.multi_items()
        ]
        return [form.multi_items(), files]
    if reader == "parts":
        return [
            [part.name, part.filename, part.content_type, dict(part.headers), await part.atext()]
            async for part in request.aparts()
        ]
    if reader == "parts-skip":
        return [part.name async for part in request.aparts()]
    if reader == "stream":
        return sum([len(chunk) async for chunk in request.astream()])
    return None


# Every converter, alone and inside a segment, under a sync and an async prefix.
PATTERNS = (
    "/{name}",
    "/{name}/{number:int}",
    "/f/{value:float}",
    "/u/{key:uuid}",
    "/p/{rest:path}",
    "/m/{stem}.{ext}",
    "/v{version:int}/items/{item}",
    "/static/x",
)


def build_app() -> App:
    """An App whose handlers echo everything they parse, with small limits to reach."""
    app = App(
        max_body_size=64 * 1024,
        max_form_fields=50,
        max_form_files=5,
        max_field_size=4096,
        max_file_size=8192,
        max_part_header_size=1024,
        spool_threshold=1024,  # bigger uploads go to temporary files
        thread_pool_size=4,
    )

    def sync_handler(request: Request, **params: Any) -> Any:
        reader = request.headers.get("x-fuzz-reader", "none")
        return {**_summary(request, params), "body": _read_sync(request, reader)}

    async def async_handler(request: Request, **params: Any) -> Any:
        reader = request.headers.get("x-fuzz-reader", "none")
        return {**_summary(request, params), "body": await _read_async(request, reader)}

    methods = [method for method in METHODS if method not in ("HEAD", "OPTIONS")]
    for index, pattern in enumerate(PATTERNS):
        app.add_route("/s" + pattern, sync_handler, methods, name=f"s{index}")
        app.add_route("/a" + pattern, async_handler, methods, name=f"a{index}")

    def server_error(request: Request, exc: Exception) -> Any:
        # Keeps the exception for the crash report (the response is the default one).
        crashes.errors.append(exc)
        return PlainTextResponse("Internal Server Error", 500)

    crashes = _Crashes()
    app.add_error_handler(500, server_error)
    app.state.crashes = crashes
    # One App's collector at a time: the tests build several Apps in one process.
    logger = logging.getLogger("dualweb")
    for handler in [handler for handler in logger.handlers if isinstance(handler, _Crashes)]:
        logger.removeHandler(handler)
    logger.addHandler(crashes)
    return app


# -- sending a request, as a server would -------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _header_pairs(request: RawRequest, chunked: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"fuzz.test"), (b"x-fuzz-reader", request.reader.encode())]
    headers += request.headers
    if not any(name in (b"content-length", b"transfer-encoding") for name, _ in headers):
        if chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        elif request.body:
            headers.append((b"content-length", str(len(request.body)).encode()))
    return headers


def _received(request: RawRequest) -> bytes:
    """The part of the body the App gets (half of it when the client leaves)."""
    return request.body[: len(request.body) // 2] if request.disconnect else request.body


def _chunks(request: RawRequest) -> list[bytes]:
    body = _received(request)
    size = request.chunk_size or len(body) or 1
    return [body[start : start + size] for start in range(0, len(body), size)]


def call_wsgi(app: App, request: RawRequest) -> Answer:
    """The request through ``app.wsgi``, checked by ``wsgiref.validate``."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        # Servers percent-decode the path; PEP 3333 strings are latin-1 bytes.
        "PATH_INFO": unquote_to_bytes(request.path).decode("latin-1"),
        "QUERY_STRING": request.query.decode("latin-1"),
        "SERVER_NAME": "fuzz.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        # A client that left: the input ends before Content-Length says.
        "wsgi.input": io.BytesIO(_received(request)),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for name, value in _header_pairs(request, chunked=False):
        key = name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        # Repeated fields are joined, as WSGI servers do.
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [int(status[:3]), headers]
        return lambda data: None

    wsgi: Any = app.wsgi
    if environ.get("CONTENT_LENGTH", "0").isdigit():
        # The validator refuses an environ with a Content-Length no server
        # would pass on; the App must still answer such a one with a 400.
        wsgi = validator(wsgi)
    with warnings.catch_warnings():
        # It warns about methods it does not know (QUERY), which are no fault.
        warnings.simplefilter("ignore", WSGIWarning)
        result = wsgi(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    return Answer(started[0], started[1], body)


_loop: asyncio.AbstractEventLoop | None = None


def call_asgi(app: App, request: RawRequest) -> Answer:
    """The request through ``app.asgi``, its body in ``chunk_size`` pieces."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    chunks = _chunks(request)
    path = unquote_to_bytes(request.path).decode("utf-8", "replace")  # as uvicorn does
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": path,
        "raw_path": request.path,
        "root_path": "",
        "query_string": request.query,
        "headers": _header_pairs(request, chunked=len(chunks) > 1 or request.disconnect),
        "server": ("fuzz.test", 80),
        "client": ("127.0.0.1", 50000),
    }
    sent: list[MutableMapping[str, Any]] = []
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if chunks:
            more = bool(chunks[1:]) or request.disconnect
            return {"type": "http.request", "body": chunks.pop(0), "more_body": more}
        if not request.disconnect:
            await finished.wait()  # the client stays until the response is complete
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished.set()

    async def serve() -> None:
        await app.asgi(scope, receive, send)
        finished.set()

    if not chunks and not request.disconnect:
        chunks.append(b"")
    _loop.run_until_complete(serve())
    start = sent[0]
    assert start["type"] == "http.response.start", start
    headers = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]
    ]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return Answer(start["status"], headers, body)


# -- the target ----------------------------------------------------------------------------

_app: App | None = None


def app_under_test() -> App:
    global _app
    if _app is None:
        _app = build_app()
    return _app


def check(request: RawRequest, app: App | None = None) -> Answer:
    """Send ``request``; raise :class:`FuzzFailure` if the App misbehaved."""
    app = app or app_under_test()
    crashes: _Crashes = app.state.crashes
    crashes.errors.clear()
    try:
        call = call_asgi if request.interface == "asgi" else call_wsgi
        answer = call(app, request)
    except Exception as exc:
        raise FuzzFailure(f"the App raised {exc!r} for {request!r}") from exc
    if crashes.errors:
        raise FuzzFailure(f"{answer.status} for {request!r}") from crashes.errors[0]
    if answer.status >= 500:
        raise FuzzFailure(f"{answer.status} for {request!r}: {answer.body[:200]!r}")
    for name, value in answer.headers:
        if _HEADER_VALUE_BAD.search(value) or _HEADER_VALUE_BAD.search(name):
            raise FuzzFailure(f"control character in response header {name}: {value!r}")
    if b"Traceback" in answer.body:
        raise FuzzFailure(f"a traceback in the body for {request!r}")
    return answer


def test_one_input(data: bytes) -> None:
    """The fuzz target: any bytes, as a request."""
    check(decode(data))


# -- seeds ---------------------------------------------------------------------------------

_BOUNDARY = b"fuzzBoundary"
_MULTIPART = b"multipart/form-data; boundary=" + _BOUNDARY


def _multipart(*parts: tuple[bytes, bytes], boundary: bytes = _BOUNDARY) -> bytes:
    body = b""
    for disposition, content in parts:
        body += b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition
        body += b"\r\n\r\n" + content + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


def seed_requests() -> list[RawRequest]:
    """About fifty requests, valid and not, that reach every parser."""
    json_type = (b"content-type", b"application/json")
    form_type = (b"content-type", b"application/x-www-form-urlencoded")
    multipart_type = (b"content-type", _MULTIPART)
    upload = _multipart(
        (b'name="title"', b"hello"),
        (b'name="file"; filename="a.txt"\r\nContent-Type: text/plain', b"x" * 2000),
    )
    base = [
        RawRequest(path=b"/s/alice"),
        RawRequest(path=b"/s/alice/42", query=b"a=1&b=2&a=3"),
        RawRequest(path=b"/s/f/3.25"),
        RawRequest(path=b"/s/u/12345678-1234-5678-1234-567812345678"),
        RawRequest(path=b"/s/p/deep/er/path.txt"),
        RawRequest(path=b"/s/m/report.pdf"),
        RawRequest(path=b"/s/v2/items/thing"),
        RawRequest(path=b"/s/static/x/"),
        RawRequest(path=b"/s/%ff%fe", query=b"q=%ff"),
        RawRequest(path=b"/s/name", query=b"%zz=1&x=%e2%82"),
        RawRequest(path=b"/s/name", query=b"a=\xff\xfd&b=+%20+"),
        RawRequest(path=b"/s/name", headers=[(b"cookie", b'a=1; b="q\\"uoted"; =nameless; c')]),
        RawRequest(path=b"/s/name", headers=[(b"cookie", b"k=\xc3\xa9t\xc3\xa9; z=\xff")]),
        RawRequest(path=b"/s/name", headers=[(b"x-many", b"1"), (b"x-many", b"2")]),
        RawRequest(method="POST", path=b"/s/j", reader="json", headers=[json_type]),
        RawRequest(
            method="POST",
            path=b"/s/j",
            reader="json",
            headers=[json_type],
            body=b'{"a": [1, 2.5, "\\u00e9", null, true]}',
        ),
        RawRequest(
            method="POST", path=b"/s/j", reader="json", headers=[json_type], body=b"[" * 5000
        ),
        RawRequest(
            method="POST", path=b"/s/j", reader="json", headers=[json_type], body=b'"\xff"'
        ),
        RawRequest(
            method="POST", path=b"/s/j", reader="json", headers=[json_type], body=b"1" * 5000
        ),
        RawRequest(method="POST", path=b"/s/j", reader="json", body=b"{}"),
        RawRequest(
            method="POST",
            path=b"/s/j",
            reader="json",
            headers=[(b"content-type", b"application/problem+json")],
            body=b'{"x": "\\ud83d\\ude00"}',
        ),
        RawRequest(
            method="POST", path=b"/s/f", reader="form", headers=[form_type], body=b"a=1&b=%20&c"
        ),
        RawRequest(
            method="POST", path=b"/s/f", reader="form", headers=[form_type], body=b"a=%ff&b=\xff"
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[form_type],
            body=b"&".join(b"f%d=1" % n for n in range(60)),
        ),
        RawRequest(method="POST", path=b"/s/f", reader="form", headers=[multipart_type]),
        RawRequest(
            method="POST", path=b"/s/f", reader="form", headers=[multipart_type], body=upload
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[multipart_type],
            body=upload,
            chunk_size=7,
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[(b"content-type", b"multipart/form-data")],
            body=upload,
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[(b"content-type", b'multipart/form-data; boundary="' + b"b" * 80 + b'"')],
            body=upload,
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[multipart_type],
            body=upload[: len(upload) // 2],
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[multipart_type],
            body=_multipart((b'name="big"', b"y" * 5000)),
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[multipart_type],
            body=_multipart((b'name="h"\r\nX-Long: ' + b"z" * 2000, b"v")),
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[multipart_type],
            body=_multipart(*[(b'name="f"; filename="%d"' % n, b"1") for n in range(7)]),
        ),
        RawRequest(
            method="POST",
            path=b"/s/f",
            reader="form",
            headers=[multipart_type],
            body=_multipart((b'name="../\x00x"; filename="../../etc/passwd"', b"\xff")),
        ),
        RawRequest(
            method="POST",
            path=b"/s/p",
            reader="parts",
            headers=[multipart_type],
            body=_multipart(
                (b'name="t"\r\nContent-Type: text/plain; charset=latin-1', b"\xe9"),
                (b'name="u"\r\nContent-Type: text/plain; charset=nope', b"x"),
            ),
        ),
        RawRequest(
            method="POST", path=b"/s/p", reader="parts", headers=[multipart_type], body=upload
        ),
        RawRequest(
            method="POST",
            path=b"/s/p",
            reader="parts",
            headers=[multipart_type],
            body=_multipart((b'name="t"', b"\xff\xfe")),
        ),
        RawRequest(
            method="POST",
            path=b"/s/p",
            reader="parts-skip",
            headers=[multipart_type],
            body=upload,
            chunk_size=3,
        ),
        RawRequest(method="POST", path=b"/s/b", reader="body", body=b"\x00\x01\xff"),
        RawRequest(
            method="POST",
            path=b"/s/t",
            reader="text",
            headers=[(b"content-type", b"text/plain; charset=idna")],
            body=b"\xff" * 10,
        ),
        RawRequest(
            method="POST",
            path=b"/s/t",
            reader="text",
            headers=[(b"content-type", b"text/plain; charset=utf-16")],
            body=b"\xff\xfea\x00",
        ),
        RawRequest(method="POST", path=b"/s/s", reader="stream", body=b"z" * 70000),
        RawRequest(
            method="POST",
            path=b"/s/s",
            reader="stream",
            headers=[(b"content-length", b"99999999999")],
        ),
        RawRequest(
            method="POST", path=b"/s/s", reader="body", headers=[(b"content-length", b"1x")]
        ),
        RawRequest(method="DELETE", path=b"/s/static/x"),
        RawRequest(method="OPTIONS", path=b"/s/name"),
        RawRequest(method="HEAD", path=b"/s/name/7"),
        RawRequest(path=b"/nowhere/at/all"),
        RawRequest(path=b"/s/%0d%0aSet-Cookie:%20x=1/"),
        RawRequest(path=b"/s/v99999999999999999999999/items/%2e%2e"),
    ]
    # The same requests through the other interface, and to the async handlers.
    requests = []
    for index, request in enumerate(base):
        request.disconnect = bool(request.body) and index % 4 == 1
        other = RawRequest(**{**request.__dict__, "headers": list(request.headers)})
        other.interface = "asgi" if index % 2 == 0 else "wsgi"
        request.interface = "wsgi" if index % 2 == 0 else "asgi"
        if index % 3 == 0:
            other.path = b"/a" + other.path[2:] if other.path.startswith(b"/s") else other.path
        requests += [request, other]
    return requests


def seed_inputs() -> list[bytes]:
    return [encode(request) for request in seed_requests()]


# -- running ------------------------------------------------------------------------------


def _mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """One random edit: flip, insert, delete, duplicate, or splice with another input."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(5)
        position = rng.randrange(len(buffer) + 1)
        if choice == 0 and buffer:
            buffer[min(position, len(buffer) - 1)] = rng.randrange(256)
        elif choice == 1:
            insert = rng.choice([bytes([rng.randrange(256)]), SEPARATOR, b"%", b"\r\n", b'"'])
            buffer[position:position] = insert
        elif choice == 2 and buffer:
            del buffer[position : position + rng.randint(1, 16)]
        elif choice == 3 and buffer:
            piece = buffer[position : position + rng.randint(1, 64)]
            buffer[position:position] = piece * rng.randint(1, 8)
        else:
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            buffer = buffer[:position] + other[cut:]
    return bytes(buffer[:100_000])


def random_fuzz(
    runs: int | None, max_time: float | None, seed: int = 0, log: Callable[[str], None] = print
) -> int:
    """The plain loop: mutate the seeds (and what came of them); the number of runs."""
    rng = random.Random(seed)
    pool = seed_inputs()
    start = time.monotonic()
    done = 0
    for data in _forever(pool, rng):
        if runs is not None and done >= runs:
            break
        if max_time is not None and time.monotonic() - start >= max_time:
            break
        try:
            test_one_input(data)
        except FuzzFailure:
            log(f"crash on input {data!r}")
            raise
        done += 1
        if done % 10_000 == 0:
            elapsed = time.monotonic() - start
            log(f"#{done} exec/s: {done / elapsed:.0f}")
    elapsed = time.monotonic() - start
    log(f"Done {done} runs in {elapsed:.0f} s ({done / max(elapsed, 1e-9):.0f} exec/s)")
    return done


def _forever(pool: list[bytes], rng: random.Random) -> Iterator[bytes]:
    yield from list(pool)
    while True:
        data = _mutate(rng.choice(pool), rng, pool)
        if len(pool) < 5000 and rng.random() < 0.05:
            pool.append(data)
        yield data


def _option(argv: Iterable[str], name: str) -> str | None:
    for arg in argv:
        if arg.startswith(f"-{name}="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> None:  # pragma: no cover - run by hand
    logging.getLogger("dualweb").addHandler(logging.NullHandler())
    logging.getLogger("dualweb").propagate = False  # crashes are reported by the target
    if atheris is None or "--random" in argv:
        if atheris is None:
            print("atheris is not installed: running the plain random loop", file=sys.stderr)
        runs = _option(argv, "atheris_runs")
        max_time = _option(argv, "max_total_time")
        random_fuzz(
            int(runs) if runs else None,
            float(max_time) if max_time else (None if runs else 60.0),
            int(_option(argv, "seed") or 0),
        )
        return
    args = [arg for arg in argv if arg != "--random"]
    given = [arg for arg in args[1:] if not arg.startswith("-")]
    if not given:
        # No corpus directory given: start from the seeds in a fresh one.
        corpus = Path(tempfile.mkdtemp(prefix="dualweb-fuzz-"))
        print(f"corpus: {corpus}", file=sys.stderr)
        args.append(str(corpus))
    else:
        corpus = Path(given[0])
    if corpus.is_dir() and not any(corpus.iterdir()):
        # An empty corpus (or a new one) starts from the seeds, not from nothing.
        for index, data in enumerate(seed_inputs()):
            (corpus / f"seed-{index:03d}").write_bytes(data)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover - run by hand
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main(sys.argv)
