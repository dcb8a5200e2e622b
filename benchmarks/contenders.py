"""The contenders: one small app, written once for each framework, and how to call it.

Every contender serves the same endpoints with the same answers (status,
Content-Type, body; JSON bodies are compared as parsed documents, since Flask
sorts keys and ends its JSON with a newline):

* ``GET /plaintext`` -> ``Hello, World!`` (``text/plain; charset=utf-8``)
* ``GET /json`` -> ``{"message":"Hello, World!"}`` (``application/json``)
* ``GET /users/{id:int}`` -> ``{"id": 42}``, registered among ``routes`` routes
  in all (the fixed endpoints, then filler routes of realistic shapes with the
  users route in the middle of them: neither first nor last)
* ``POST /echo``: a JSON document of about 1 KB -> the same document
* ``POST /form``: url-encoded, 20 fields -> ``{"fields": 20, "total": <sum of
  the value lengths>}``
* ``POST /upload``: multipart, one file -> ``{"size": <bytes>}``; the file is
  left where the framework puts it (memory or a temporary file), never read
  back whole
* ``GET /wait``: sleeps 100 ms (``time.sleep`` in WSGI apps, ``await
  asyncio.sleep`` in ASGI ones) -> ``waited``
* WebSocket ``/ws`` (ASGI contenders): echoes each text message

``WSGI_CONTENDERS`` and ``ASGI_CONTENDERS`` map a contender's name to its
factory, ``build_<name>(routes=10)``. WSGI contenders have sync handlers and
ASGI contenders async ones, so no handler crosses modes (dualweb has one App
of each kind). The raw callables are the floor: hand-written, minimal but
correct. Peers that are not installed are left out of the registries and
listed in ``UNAVAILABLE``. Each peer's code is what its documentation shows,
with the speed advice it gives (Falcon resources with ``resp.text`` /
``resp.media`` and a compact JSON handler, Starlette ``Route`` and
``PlainTextResponse`` / ``JSONResponse``, Flask views, Bottle routes).

Module-level instances (10 routes) are there for servers, e.g.
``python -m uvicorn benchmarks.contenders:starlette_app`` or
``gunicorn benchmarks.contenders:flask_app``, from the project root.
``python benchmarks/contenders.py`` checks every contender's answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

if __package__:  # imported as benchmarks.contenders (servers, from the project root)
    from ._common import gunicorn_environ, uvicorn_scope
else:  # imported by a script in benchmarks/, or run as one
    from _common import gunicorn_environ, uvicorn_scope

import dualweb
from dualweb import App, Request, WebSocket
from dualweb._multipart import multipart  # the real one, even when python-multipart shadows it

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# -- what is asked, and what must come back -------------------------------------------------

HELLO = "Hello, World!"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"  # as a browser makes them
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
USER_ID = 42
WAIT_SECONDS = 0.1
#: Body chunks handed to ASGI apps (what a server receives per read, roughly).
CHUNK = 64 * 1024
#: The file of POST /upload: 10 MB for servers, 1 MB in-process.
SERVER_UPLOAD_SIZE = 10_000_000
IN_PROCESS_UPLOAD_SIZE = 1_000_000
#: dualweb's body limit (1 MiB by default) raised for the upload route; the
#: peers have no limit by default.
UPLOAD_LIMIT = 256 * 1024 * 1024
#: Every contender has this many HTTP routes with ``routes=``; the smallest is
#: the fixed endpoints alone.
FIXED_ROUTES = 7  # plaintext, json, echo, form, upload, wait, users


def _echo_document() -> dict[str, Any]:
    """An order as an API might receive it: about 1 KB of compact JSON."""
    return {
        "id": 1234567,
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "vip": True},
        "currency": "EUR",
        "note": None,
        "items": [
            {
                "sku": f"SKU-{i:05d}",
                "name": f"Item number {i}",
                "quantity": i % 4 + 1,
                "price": 9.5,
            }
            for i in range(12)
        ],
        "tags": ["gift", "express", "fragile"],
    }


ECHO_DOCUMENT = _echo_document()
ECHO_BODY = json.dumps(ECHO_DOCUMENT, separators=(",", ":")).encode()

# 20 fields of a sign-up form: some values need percent-decoding, some do not.
FORM_FIELDS = [
    (f"field{i:02d}", f"value {i} with spaces & symbols @" if i % 2 else f"value{i:02d}")
    for i in range(20)
]
FORM_BODY = urlencode(FORM_FIELDS).encode()
FORM_TOTAL = sum(len(value) for _, value in FORM_FIELDS)


def upload_body(size: int) -> bytes:
    """A multipart body with one file of ``size`` incompressible bytes."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="upload.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + random.Random(size).randbytes(size) + f"\r\n--{BOUNDARY}--\r\n".encode()


@dataclass(frozen=True)
class Call:
    """One request to an endpoint, and the answer every contender must give."""

    endpoint: str
    method: str
    path: str
    content_type: str | None = None
    body: bytes = field(default=b"", repr=False)
    answer_type: str = JSON
    answer: Any = None  # a str for text answers, the parsed document for JSON ones


def calls(upload_size: int = IN_PROCESS_UPLOAD_SIZE) -> dict[str, Call]:
    """The request for each endpoint (``/upload`` with a file of ``upload_size`` bytes)."""
    found = [
        Call("plaintext", "GET", "/plaintext", answer_type=TEXT, answer=HELLO),
        Call("json", "GET", "/json", answer={"message": HELLO}),
        Call("users", "GET", f"/users/{USER_ID}", answer={"id": USER_ID}),
        Call("echo", "POST", "/echo", JSON, ECHO_BODY, answer=ECHO_DOCUMENT),
        Call("form", "POST", "/form", FORM, FORM_BODY, answer={"fields": 20, "total": FORM_TOTAL}),
        Call(
            "upload",
            "POST",
            "/upload",
            MULTIPART,
            upload_body(upload_size),
            answer={"size": upload_size},
        ),
        Call("wait", "GET", "/wait", answer_type=TEXT, answer="waited"),
    ]
    return {call.endpoint: call for call in found}


def fillers(routes: int) -> tuple[list[str], list[str]]:
    """The filler routes' paths, in dualweb's syntax: (before the users route, after it).

    Static, one-int and two-str shapes in rotation, as in a real API.
    """
    paths = []
    for i in range(max(routes - FIXED_ROUTES, 0)):
        kind = i % 3
        if kind == 0:
            paths.append(f"/static{i}/page")
        elif kind == 1:
            paths.append(f"/api/v1/res{i}/{{item_id:int}}")
        else:
            paths.append(f"/org{i}/{{org}}/repos/{{repo}}")
    middle = len(paths) // 2
    return paths[:middle], paths[middle:]


def _check_routes(routes: int) -> None:
    if routes < FIXED_ROUTES:
        raise ValueError(f"routes must be at least {FIXED_ROUTES} (the endpoints themselves)")


# -- the floor: hand-written raw callables ---------------------------------------------------

_HELLO_BYTES = HELLO.encode()
# Same settings as dualweb's JSONResponse and Starlette's: compact, UTF-8, NaN refused.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_STATUS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed"}
_NOT_FOUND = (404, TEXT, b"Not Found")


def _form_answer(body: bytes) -> bytes:
    fields = parse_qsl(body.decode(), keep_blank_values=True)
    return _ENCODER.encode(
        {"fields": len(fields), "total": sum(len(value) for _, value in fields)}
    ).encode()


def _boundary(content_type: str) -> str:
    return content_type.partition("boundary=")[2].partition(";")[0].strip('"')


class _FileCounter:
    """Feeds body chunks to the multipart push parser; counts the file's bytes."""

    __slots__ = ("in_file", "parser", "size")

    def __init__(self, content_type: str) -> None:
        self.parser = multipart.PushMultipartParser(_boundary(content_type))
        self.size = 0
        self.in_file = False

    def feed(self, chunk: bytes) -> None:
        for event in self.parser.parse(chunk):
            if type(event) is bytes:
                if self.in_file:
                    self.size += len(event)
            elif event is None:
                self.in_file = False
            else:
                self.in_file = event.filename is not None

    def answer(self) -> bytes:
        self.parser.close()
        return _ENCODER.encode({"size": self.size}).encode()


def _raw_get(path: str) -> tuple[int, str, bytes]:
    if path == "/plaintext":
        return 200, TEXT, _HELLO_BYTES
    if path == "/json":
        # Serialized per request, as every contender does (a floor that
        # answered a prebuilt body would not be doing the same work).
        return 200, JSON, _ENCODER.encode({"message": HELLO}).encode()
    if path.startswith("/users/"):
        digits = path[7:]
        if digits.isdigit() and digits.isascii():
            return 200, JSON, _ENCODER.encode({"id": int(digits)}).encode()
    return _NOT_FOUND


def build_raw_wsgi(routes: int = 10) -> WSGIApp:
    """The WSGI floor. It does not route: ``routes`` is taken for uniformity."""
    _check_routes(routes)

    def raw_wsgi(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if method == "GET":
            if path == "/wait":
                time.sleep(WAIT_SECONDS)
                status, content_type, body = 200, TEXT, b"waited"
            else:
                status, content_type, body = _raw_get(path)
        elif method == "POST" and path in ("/echo", "/form", "/upload"):
            stream = environ["wsgi.input"]
            length = int(environ.get("CONTENT_LENGTH") or 0)
            status, content_type = 200, JSON
            if path == "/upload":
                counter = _FileCounter(environ["CONTENT_TYPE"])
                while length > 0:
                    chunk = stream.read(min(length, CHUNK))
                    if not chunk:
                        break
                    length -= len(chunk)
                    counter.feed(chunk)
                body = counter.answer()
            elif path == "/echo":
                body = _ENCODER.encode(json.loads(stream.read(length))).encode()
            else:
                body = _form_answer(stream.read(length))
        else:
            status, content_type, body = _NOT_FOUND
        start_response(
            _STATUS[status], [("content-type", content_type), ("content-length", str(len(body)))]
        )
        return [body]

    return raw_wsgi


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionError("client disconnected")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def build_raw_asgi(routes: int = 10) -> ASGIApp:
    """The ASGI floor (HTTP, WebSocket echo and lifespan). It does not route."""
    _check_routes(routes)

    async def raw_asgi(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await _raw_websocket(scope, receive, send)
            return
        if kind == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        method, path = scope["method"], scope["path"]
        if method == "GET":
            if path == "/wait":
                await asyncio.sleep(WAIT_SECONDS)
                status, content_type, body = 200, TEXT, b"waited"
            else:
                status, content_type, body = _raw_get(path)
        elif method == "POST" and path in ("/echo", "/form", "/upload"):
            status, content_type = 200, JSON
            if path == "/upload":
                content_type_header = b""
                for name, value in scope["headers"]:
                    if name == b"content-type":
                        content_type_header = value
                counter = _FileCounter(content_type_header.decode("latin-1"))
                more = True
                while more:
                    message = await receive()
                    if message["type"] != "http.request":
                        return
                    counter.feed(message.get("body", b""))
                    more = message.get("more_body", False)
                body = counter.answer()
            elif path == "/echo":
                body = _ENCODER.encode(json.loads(await _read_body(receive))).encode()
            else:
                body = _form_answer(await _read_body(receive))
        else:
            status, content_type, body = _NOT_FOUND
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(body)).encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return raw_asgi


async def _raw_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"] != "/ws":
        await send({"type": "websocket.close", "code": 1000})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


# -- dualweb ---------------------------------------------------------------------------------


def _dualweb_filler(request: Request, **params: Any) -> str:
    return "filler"


async def _dualweb_async_filler(request: Request, **params: Any) -> str:
    return "filler"


def _add_dualweb_users(app: App, routes: int, users: Callable[..., Any], filler: Any) -> None:
    before, after = fillers(routes)
    for i, path in enumerate(before):
        app.add_route(path, filler, name=f"filler{i}")
    app.add_route("/users/{user_id:int}", users, name="users")
    for i, path in enumerate(after, len(before)):
        app.add_route(path, filler, name=f"filler{i}")


def build_dualweb_wsgi(routes: int = 10) -> App:
    """dualweb with sync handlers: what a WSGI server should be given."""
    _check_routes(routes)
    app = App()

    @app.get("/plaintext")
    def plaintext(request: Request) -> str:
        return HELLO

    @app.get("/json")
    def json_(request: Request) -> dict[str, str]:
        return {"message": HELLO}

    @app.post("/echo")
    def echo(request: Request) -> Any:
        return request.json()

    @app.post("/form")
    def form(request: Request) -> dict[str, int]:
        fields = request.form()
        return {"fields": len(fields), "total": sum(len(value) for value in fields.values())}

    @app.post("/upload", max_body_size=UPLOAD_LIMIT)
    def upload(request: Request) -> dict[str, int]:
        return {"size": request.form().files["file"].size}

    @app.get("/wait")
    def wait(request: Request) -> str:
        time.sleep(WAIT_SECONDS)
        return "waited"

    def users(request: Request, user_id: int) -> dict[str, int]:
        return {"id": user_id}

    _add_dualweb_users(app, routes, users, _dualweb_filler)
    return app


def build_dualweb_asgi(routes: int = 10) -> App:
    """dualweb with async handlers: what an ASGI server should be given."""
    _check_routes(routes)
    app = App()

    @app.get("/plaintext")
    async def plaintext(request: Request) -> str:
        return HELLO

    @app.get("/json")
    async def json_(request: Request) -> dict[str, str]:
        return {"message": HELLO}

    @app.post("/echo")
    async def echo(request: Request) -> Any:
        return await request.ajson()

    @app.post("/form")
    async def form(request: Request) -> dict[str, int]:
        fields = await request.aform()
        return {"fields": len(fields), "total": sum(len(value) for value in fields.values())}

    @app.post("/upload", max_body_size=UPLOAD_LIMIT)
    async def upload(request: Request) -> dict[str, int]:
        return {"size": (await request.aform()).files["file"].size}

    @app.get("/wait")
    async def wait(request: Request) -> str:
        await asyncio.sleep(WAIT_SECONDS)
        return "waited"

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        async for message in socket:
            if isinstance(message, str):
                await socket.send_text(message)
            else:
                await socket.send_bytes(message)

    async def users(request: Request, user_id: int) -> dict[str, int]:
        return {"id": user_id}

    _add_dualweb_users(app, routes, users, _dualweb_async_filler)
    return app


# -- the peers ---------------------------------------------------------------------------------

UNAVAILABLE: dict[str, str] = {}
"""Contender name -> why it is not in the registries (a peer not installed)."""
UNSUPPORTED: dict[str, dict[str, str]] = {}
"""Contender name -> {endpoint: why it cannot serve it here}."""


def _installed(module: str, *contenders: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        for name in contenders:
            UNAVAILABLE[name] = f"not importable ({exc}); pip install {module}"
        return False
    return True


def _compact_dumps(document: Any) -> str:
    return _ENCODER.encode(document)


def _translate(path: str, style: str) -> str:
    """A filler path from dualweb's syntax to a peer's (``{x:int}``, ``{x}``)."""
    out = []
    for segment in path.split("/"):
        if segment.startswith("{"):
            name, _, kind = segment[1:-1].partition(":")
            if style == "flask":
                segment = f"<int:{name}>" if kind == "int" else f"<{name}>"
            elif style == "bottle":
                segment = f"<{name}:int>" if kind == "int" else f"<{name}>"
            elif style == "falcon":
                segment = f"{{{name}:int}}" if kind == "int" else f"{{{name}}}"
        out.append(segment)
    return "/".join(out)


class _CountingSink:
    """A file-like that keeps only the count of bytes written (where uploads are piped)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


class _AsyncCountingSink(_CountingSink):
    __slots__ = ()

    async def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


if _installed("falcon", "Falcon"):
    import falcon
    import falcon.asgi
    import falcon.media

    def _falcon_json_handler() -> Any:
        # Falcon's docs on media handlers: its default JSON handler adds
        # spaces; this one dumps compact JSON like the other contenders.
        return falcon.media.JSONHandler(dumps=_compact_dumps)

    class _FalconPlaintext:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = HELLO

    class _FalconJSON:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.media = {"message": HELLO}

    class _FalconUsers:
        def on_get(self, req: Any, resp: Any, user_id: int) -> None:
            resp.media = {"id": user_id}

    class _FalconEcho:
        def on_post(self, req: Any, resp: Any) -> None:
            resp.media = req.get_media()

    class _FalconForm:
        def on_post(self, req: Any, resp: Any) -> None:
            form = req.get_media()
            resp.media = {"fields": len(form), "total": sum(len(v) for v in form.values())}

    class _FalconUpload:
        def on_post(self, req: Any, resp: Any) -> None:
            sink = _CountingSink()
            for part in req.get_media():
                if part.name == "file":
                    part.stream.pipe(sink)
            resp.media = {"size": sink.size}

    class _FalconWait:
        def on_get(self, req: Any, resp: Any) -> None:
            time.sleep(WAIT_SECONDS)
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = "waited"

    class _FalconFiller:
        def on_get(self, req: Any, resp: Any, **params: Any) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = "filler"

    class _FalconAsyncPlaintext:
        async def on_get(self, req: Any, resp: Any) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = HELLO

    class _FalconAsyncJSON:
        async def on_get(self, req: Any, resp: Any) -> None:
            resp.media = {"message": HELLO}

    class _FalconAsyncUsers:
        async def on_get(self, req: Any, resp: Any, user_id: int) -> None:
            resp.media = {"id": user_id}

    class _FalconAsyncEcho:
        async def on_post(self, req: Any, resp: Any) -> None:
            resp.media = await req.get_media()

    class _FalconAsyncForm:
        async def on_post(self, req: Any, resp: Any) -> None:
            form = await req.get_media()
            resp.media = {"fields": len(form), "total": sum(len(v) for v in form.values())}

    class _FalconAsyncUpload:
        async def on_post(self, req: Any, resp: Any) -> None:
            sink = _AsyncCountingSink()
            async for part in await req.get_media():
                if part.name == "file":
                    await part.stream.pipe(sink)
            resp.media = {"size": sink.size}

    class _FalconAsyncWait:
        async def on_get(self, req: Any, resp: Any) -> None:
            await asyncio.sleep(WAIT_SECONDS)
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = "waited"

    class _FalconAsyncFiller:
        async def on_get(self, req: Any, resp: Any, **params: Any) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = "filler"

    class _FalconAsyncWebSocket:
        async def on_websocket(self, req: Any, ws: Any) -> None:
            await ws.accept()
            while True:
                try:
                    message = await ws.receive_text()
                except falcon.WebSocketDisconnected:
                    return
                await ws.send_text(message)

    def _falcon_routes(app: Any, routes: int, resources: dict[str, Any], filler: Any) -> None:
        app.resp_options.media_handlers[falcon.MEDIA_JSON] = _falcon_json_handler()
        users = resources.pop("users")
        for path, resource in resources.items():
            app.add_route(path, resource)
        before, after = fillers(routes)
        for path in before:
            app.add_route(_translate(path, "falcon"), filler)
        app.add_route("/users/{user_id:int}", users)
        for path in after:
            app.add_route(_translate(path, "falcon"), filler)

    def build_falcon_wsgi(routes: int = 10) -> Any:
        _check_routes(routes)
        app = falcon.App()
        resources = {
            "/plaintext": _FalconPlaintext(),
            "/json": _FalconJSON(),
            "/echo": _FalconEcho(),
            "/form": _FalconForm(),
            "/upload": _FalconUpload(),
            "/wait": _FalconWait(),
        }
        _falcon_routes(app, routes, {**resources, "users": _FalconUsers()}, _FalconFiller())
        return app

    def build_falcon_asgi(routes: int = 10) -> Any:
        _check_routes(routes)
        app = falcon.asgi.App()
        resources = {
            "/plaintext": _FalconAsyncPlaintext(),
            "/json": _FalconAsyncJSON(),
            "/echo": _FalconAsyncEcho(),
            "/form": _FalconAsyncForm(),
            "/upload": _FalconAsyncUpload(),
            "/wait": _FalconAsyncWait(),
        }
        resources["/ws"] = _FalconAsyncWebSocket()
        _falcon_routes(
            app, routes, {**resources, "users": _FalconAsyncUsers()}, _FalconAsyncFiller()
        )
        return app


if _installed("flask", "Flask"):
    import flask

    def build_flask(routes: int = 10) -> Any:
        _check_routes(routes)
        app = flask.Flask("contenders")
        request = flask.request

        @app.get("/plaintext")
        def plaintext() -> Any:
            return flask.Response(HELLO, mimetype="text/plain")

        @app.get("/json")
        def json_() -> Any:
            return {"message": HELLO}

        @app.post("/echo")
        def echo() -> Any:
            return request.get_json()

        @app.post("/form")
        def form() -> Any:
            fields = request.form
            return {"fields": len(fields), "total": sum(len(v) for v in fields.values())}

        @app.post("/upload")
        def upload() -> Any:
            # Werkzeug spools the file (to a temporary file past 500 KB).
            stream = request.files["file"].stream
            stream.seek(0, os.SEEK_END)
            return {"size": stream.tell()}

        @app.get("/wait")
        def wait() -> Any:
            time.sleep(WAIT_SECONDS)
            return flask.Response("waited", mimetype="text/plain")

        def users(user_id: int) -> Any:
            return {"id": user_id}

        def filler(**params: Any) -> Any:
            return flask.Response("filler", mimetype="text/plain")

        before, after = fillers(routes)
        for i, path in enumerate(before):
            app.add_url_rule(_translate(path, "flask"), f"filler{i}", filler)
        app.add_url_rule("/users/<int:user_id>", "users", users)
        for i, path in enumerate(after, len(before)):
            app.add_url_rule(_translate(path, "flask"), f"filler{i}", filler)
        return app


if _installed("bottle", "Bottle"):
    import bottle

    def build_bottle(routes: int = 10) -> Any:
        _check_routes(routes)
        # Bottle's JSON plugin, given a compact encoder like the other contenders'.
        app = bottle.Bottle()
        app.uninstall(bottle.JSONPlugin)
        app.install(bottle.JSONPlugin(json_dumps=_compact_dumps))
        request, response = bottle.request, bottle.response

        @app.get("/plaintext")
        def plaintext() -> str:
            response.content_type = TEXT
            return HELLO

        @app.get("/json")
        def json_() -> Any:
            return {"message": HELLO}

        @app.post("/echo")
        def echo() -> Any:
            return request.json

        @app.post("/form")
        def form() -> Any:
            fields = request.forms
            return {"fields": len(fields), "total": sum(len(v) for v in fields.values())}

        @app.post("/upload")
        def upload() -> Any:
            file = request.files["file"].file
            file.seek(0, os.SEEK_END)
            return {"size": file.tell()}

        @app.get("/wait")
        def wait() -> str:
            time.sleep(WAIT_SECONDS)
            response.content_type = TEXT
            return "waited"

        def users(user_id: int) -> Any:
            return {"id": user_id}

        def filler(**params: Any) -> str:
            response.content_type = TEXT
            return "filler"

        before, after = fillers(routes)
        for path in before:
            app.route(_translate(path, "bottle"), "GET", filler)
        app.route("/users/<user_id:int>", "GET", users)
        for path in after:
            app.route(_translate(path, "bottle"), "GET", filler)
        return app


if _installed("starlette", "Starlette"):
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket as StarletteWebSocket

    if importlib.util.find_spec("python_multipart") is None:
        UNSUPPORTED["Starlette"] = dict.fromkeys(
            ("form", "upload"), "Starlette parses forms with python-multipart (not installed)"
        )

    async def _starlette_plaintext(request: StarletteRequest) -> Any:
        return PlainTextResponse(HELLO)

    async def _starlette_json(request: StarletteRequest) -> Any:
        return JSONResponse({"message": HELLO})

    async def _starlette_users(request: StarletteRequest) -> Any:
        return JSONResponse({"id": request.path_params["user_id"]})

    async def _starlette_echo(request: StarletteRequest) -> Any:
        return JSONResponse(await request.json())

    async def _starlette_form(request: StarletteRequest) -> Any:
        async with request.form() as fields:
            total = sum(len(value) for value in fields.values())
            return JSONResponse({"fields": len(fields), "total": total})

    async def _starlette_upload(request: StarletteRequest) -> Any:
        # Starlette spools the file (to a temporary file past 1 MB) and
        # closes it when the form's context ends.
        async with request.form() as fields:
            return JSONResponse({"size": fields["file"].size})

    async def _starlette_wait(request: StarletteRequest) -> Any:
        await asyncio.sleep(WAIT_SECONDS)
        return PlainTextResponse("waited")

    async def _starlette_filler(request: StarletteRequest) -> Any:
        return PlainTextResponse("filler")

    async def _starlette_ws(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        async for message in websocket.iter_text():
            await websocket.send_text(message)

    def build_starlette(routes: int = 10) -> Any:
        _check_routes(routes)
        before, after = fillers(routes)
        return Starlette(
            routes=[
                Route("/plaintext", _starlette_plaintext),
                Route("/json", _starlette_json),
                Route("/echo", _starlette_echo, methods=["POST"]),
                Route("/form", _starlette_form, methods=["POST"]),
                Route("/upload", _starlette_upload, methods=["POST"]),
                Route("/wait", _starlette_wait),
                *(Route(path, _starlette_filler) for path in before),
                Route("/users/{user_id:int}", _starlette_users),
                *(Route(path, _starlette_filler) for path in after),
                WebSocketRoute("/ws", _starlette_ws),
            ]
        )


# -- the registries and the server instances ---------------------------------------------------


def _registry(entries: dict[str, str]) -> dict[str, Callable[[int], Any]]:
    found = {}
    for name, factory in entries.items():
        if name not in UNAVAILABLE:
            found[name] = globals()[factory]
    return found


WSGI_CONTENDERS: dict[str, Callable[[int], WSGIApp]] = _registry(
    {
        "raw WSGI": "build_raw_wsgi",
        "dualweb": "build_dualweb_wsgi",
        "Falcon": "build_falcon_wsgi",
        "Flask": "build_flask",
        "Bottle": "build_bottle",
    }
)
ASGI_CONTENDERS: dict[str, Callable[[int], ASGIApp]] = _registry(
    {
        "raw ASGI": "build_raw_asgi",
        "dualweb": "build_dualweb_asgi",
        "Falcon": "build_falcon_asgi",
        "Starlette": "build_starlette",
    }
)
#: The contender whose costs are the floor of each interface.
RAW = {"WSGI": "raw WSGI", "ASGI": "raw ASGI"}
#: ASGI contenders serving WebSocket ``/ws``.
WEBSOCKET_CONTENDERS = tuple(ASGI_CONTENDERS)


def _instance(registry: dict[str, Callable[[int], Any]], name: str) -> Any:
    factory = registry.get(name)
    return factory(10) if factory is not None else None


raw_wsgi = build_raw_wsgi()
dualweb_wsgi = build_dualweb_wsgi()
falcon_wsgi = _instance(WSGI_CONTENDERS, "Falcon")
flask_app = _instance(WSGI_CONTENDERS, "Flask")
bottle_app = _instance(WSGI_CONTENDERS, "Bottle")
raw_asgi = build_raw_asgi()
dualweb_asgi = build_dualweb_asgi()
falcon_asgi = _instance(ASGI_CONTENDERS, "Falcon")
starlette_app = _instance(ASGI_CONTENDERS, "Starlette")


# -- calling an app in-process, as gunicorn and uvicorn do -------------------------------------


def wsgi_environ(call: Call) -> Environ:
    """The environ gunicorn's sync worker builds for ``call`` (give each request a copy)."""
    environ = gunicorn_environ(call.path)
    environ["REQUEST_METHOD"] = call.method
    if call.content_type is not None:
        environ["CONTENT_TYPE"] = call.content_type
        environ["CONTENT_LENGTH"] = str(len(call.body))
    return environ


def fresh_environ(environ: Environ, body: bytes) -> Environ:
    """A copy of ``environ`` for one request, with its own ``wsgi.input``."""
    return {**environ, "wsgi.input": io.BytesIO(body)}


def asgi_scope(call: Call) -> Scope:
    """The scope uvicorn builds for ``call`` (give each request a copy: :func:`fresh_scope`)."""
    scope = uvicorn_scope(call.path)
    scope["method"] = call.method
    if call.content_type is not None:
        scope["headers"] = [
            *scope["headers"],
            (b"content-type", call.content_type.encode("latin-1")),
            (b"content-length", str(len(call.body)).encode("latin-1")),
        ]
    return scope


def fresh_scope(scope: Scope) -> Scope:
    return {**scope, "state": {}}


def body_chunks(body: bytes) -> list[bytes]:
    """The body as an ASGI server hands it over: pieces of up to :data:`CHUNK` bytes."""
    return [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)] or [b""]


async def receive_no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class BodyReceiver:
    """``receive`` for one request: the body's chunks, then ``http.disconnect``."""

    __slots__ = ("chunks", "index")

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.index = 0

    async def __call__(self) -> Message:
        index = self.index
        chunks = self.chunks
        if index < len(chunks):
            self.index = index + 1
            return {
                "type": "http.request",
                "body": chunks[index],
                "more_body": index + 1 < len(chunks),
            }
        return {"type": "http.disconnect"}


async def ignore_send(message: Message) -> None:
    pass


@dataclass
class Answer:
    status: int
    content_type: str | None
    body: bytes

    def matches(self, call: Call) -> bool:
        if self.status != 200 or self.content_type != call.answer_type:
            return False
        if call.answer_type == JSON:
            try:
                return bool(json.loads(self.body) == call.answer)
            except ValueError:
                return False
        return self.body == call.answer.encode()


def wsgi_answer(app: WSGIApp, call: Call) -> Answer:
    captured: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, headers]
        return None

    result = app(fresh_environ(wsgi_environ(call), call.body), start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = captured
    types = [value for name, value in headers if name.lower() == "content-type"]
    return Answer(int(status.split()[0]), types[0] if types else None, body)


async def asgi_answer(app: ASGIApp, call: Call) -> Answer:
    messages: list[Message] = []

    async def capture(message: Message) -> None:
        messages.append(message)

    receive = BodyReceiver(body_chunks(call.body))
    await app(fresh_scope(asgi_scope(call)), receive, capture)
    start = messages[0]
    types = [v for k, v in start["headers"] if k.lower() == b"content-type"]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return Answer(start["status"], types[0].decode("latin-1") if types else None, body)


def websocket_scope(path: str = "/ws") -> Scope:
    """The scope uvicorn builds for a WebSocket handshake to ``path``."""
    scope = uvicorn_scope(path)
    del scope["method"]
    scope.update(
        type="websocket",
        scheme="ws",
        subprotocols=[],
        headers=[
            *scope["headers"],
            (b"upgrade", b"websocket"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            (b"sec-websocket-version", b"13"),
        ],
    )
    return scope


async def websocket_echo(app: ASGIApp, texts: list[str]) -> list[tuple[str, str | None]]:
    """Connect, send each of ``texts`` once the previous one is echoed, disconnect.

    Returns the accept and send messages the app sent. Like a real client,
    the next message waits for the echo of the last one (an app reading
    ahead, as Falcon does, would otherwise see the disconnect first).
    """
    sent: list[tuple[str, str | None]] = []
    pending = list(texts)
    echoed = asyncio.Event()
    echoed.set()
    connected = False

    async def receive() -> Message:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await echoed.wait()
        if not pending:
            return {"type": "websocket.disconnect", "code": 1000}
        echoed.clear()
        return {"type": "websocket.receive", "text": pending.pop(0)}

    async def send(message: Message) -> None:
        if message["type"] in ("websocket.accept", "websocket.send"):
            sent.append((message["type"], message.get("text")))
        if message["type"] == "websocket.send":
            echoed.set()

    await asyncio.wait_for(app(websocket_scope(), receive, send), timeout=5)
    return sent


class AnswerMismatch(AssertionError):
    """A contender answered differently from what every contender must answer."""


def check_answers(
    routes: int = 10,
    upload_size: int = IN_PROCESS_UPLOAD_SIZE,
    endpoints: Iterable[str] | None = None,
    *,
    websockets: bool = True,
) -> int:
    """Call every contender's every endpoint in-process (fresh apps); the number of checks.

    Raises :class:`AnswerMismatch` naming the first contender, interface and
    endpoint whose status, Content-Type or body is not the expected one.
    Endpoints listed in ``UNSUPPORTED`` are skipped.
    """
    wanted = calls(upload_size)
    if endpoints is not None:
        wanted = {name: wanted[name] for name in endpoints}
    checked = 0
    loop = asyncio.new_event_loop()
    try:
        for interface, registry in (("WSGI", WSGI_CONTENDERS), ("ASGI", ASGI_CONTENDERS)):
            for name, factory in registry.items():
                app = factory(routes)
                try:
                    for call in wanted.values():
                        if call.endpoint in UNSUPPORTED.get(name, {}):
                            continue
                        if interface == "WSGI":
                            answer = wsgi_answer(app, call)
                        else:
                            answer = loop.run_until_complete(asgi_answer(app, call))
                        if not answer.matches(call):
                            raise AnswerMismatch(
                                f"{name} ({interface}) {call.method} {call.path}: {answer.status} "
                                f"{answer.content_type!r} {answer.body[:200]!r}; expected 200 "
                                f"{call.answer_type!r} {call.answer!r}"[:1000]
                            )
                        checked += 1
                    if interface == "ASGI" and websockets:
                        echoed = loop.run_until_complete(websocket_echo(app, ["hello", "again"]))
                        expected = [
                            ("websocket.accept", None),
                            ("websocket.send", "hello"),
                            ("websocket.send", "again"),
                        ]
                        if echoed != expected:
                            raise AnswerMismatch(f"{name} (ASGI) WebSocket /ws: {echoed!r}")
                        checked += 1
                finally:
                    if isinstance(app, App):
                        app.thread_pool.executor.shutdown(wait=True)
    finally:
        loop.close()
    return checked


def versions() -> dict[str, str]:
    """dualweb's version and the peers' (those whose contenders run here)."""
    from importlib import metadata

    found = {"dualweb": dualweb.__version__}
    for package, name in PEERS.items():
        if name not in UNAVAILABLE:
            with contextlib.suppress(metadata.PackageNotFoundError):
                found[package] = metadata.version(package)
    return found


#: The peers' distributions, and the contender each one is (or helps).
PEERS = {
    "falcon": "Falcon",
    "flask": "Flask",
    "bottle": "Bottle",
    "starlette": "Starlette",
    "python-multipart": "Starlette",
}


def main() -> None:
    count = check_answers()
    for name, reason in UNAVAILABLE.items():
        print(f"{name}: {reason}", file=sys.stderr)
    for name, skipped in UNSUPPORTED.items():
        for endpoint, reason in skipped.items():
            print(f"{name} {endpoint}: skipped, {reason}", file=sys.stderr)
    print(f"{count} answers checked: every contender answers alike")


if __name__ == "__main__":
    main()
