"""The Flask and Starlette apps that the tests mount in a dualweb App.

A plain helper module, like serverkit.py: tests/test_mounts_frameworks.py
mounts them under the test client, and tests/server_apps/mounts_app.py
(which adds its server-only Flask pages) serves them under real servers. Both
have the same pages as the Django project in tests/django_project/. Importing
it builds nothing: the apps come from ``make_flask`` and ``make_starlette``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import flask
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

#: GET /stream: this many chunks of this many bytes, in every app.
STREAM_CHUNKS = 5
STREAM_CHUNK_SIZE = 20_000

#: What each app's own 404 page says (dualweb's would be "Not Found", text/plain).
NOT_FOUND_MARKS = {
    "flask": "The requested URL was not found on the server.",
    "django": "The requested resource was not found on this server.",
    "starlette": "starlette: no such page",
}


def stream_chunk(index: int) -> bytes:
    """Chunk ``index`` of /stream (tests/django_project/views.py makes the same)."""
    head = f"{index}:".encode()
    return head + b"x" * (STREAM_CHUNK_SIZE - len(head) - 1) + b"\n"


#: The whole body of every app's /stream.
STREAMED = b"".join(stream_chunk(index) for index in range(STREAM_CHUNKS))


def upload_report(note: str, filename: str | None, content_type: str, data: bytes) -> Any:
    """What every app's POST /upload answers about the file it received."""
    return {
        "note": note,
        "filename": filename,
        "content_type": content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# -- the mounted apps ----------------------------------------------------------------------


def make_flask(closed: list[str]) -> flask.Flask:
    """The Flask app; the paths of responses whose close() ran go to ``closed``."""
    legacy = flask.Flask(__name__)
    request = flask.request

    @legacy.get("/")
    def index() -> Any:
        return flask.Response("flask index", mimetype="text/plain")

    @legacy.get("/hello/<name>")
    def hello(name: str) -> Any:
        return flask.Response(f"hello {name}", mimetype="text/plain")

    @legacy.get("/urls")
    def urls() -> Any:
        return {
            "hello": flask.url_for("hello", name="x"),
            "absolute": flask.url_for("hello", name="x", _external=True),
            "prefix": request.script_root,
            "inner": request.path,
            "query": request.args.getlist("q"),
        }

    @legacy.get("/go")
    def go() -> Any:
        return flask.redirect(flask.url_for("hello", name="there"))

    @legacy.route("/new", methods=["GET", "POST"])
    def new() -> Any:
        return flask.Response(f"flask new ({request.method})", mimetype="text/plain")

    @legacy.post("/form")
    def form() -> Any:
        return {name: request.form.getlist(name) for name in request.form}

    @legacy.post("/json")
    def json_echo() -> Any:
        return {"received": request.get_json()}

    @legacy.post("/upload")
    def upload() -> Any:
        file = request.files["file"]
        data = file.read()
        return upload_report(request.form["note"], file.filename, file.mimetype, data)

    @legacy.get("/cookies")
    def cookies() -> Any:
        response = flask.Response("cookies set", mimetype="text/plain")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2", httponly=True)
        response.set_cookie("c", "3", path="/flask")
        return response

    @legacy.get("/echo-cookies")
    def echo_cookies() -> Any:
        return dict(request.cookies)

    @legacy.get("/stream")
    def stream() -> Any:
        def chunks() -> Iterator[bytes]:
            for number in range(STREAM_CHUNKS):
                yield stream_chunk(number)

        response = flask.Response(chunks(), mimetype="text/plain")
        response.call_on_close(lambda: closed.append("/stream"))
        return response

    @legacy.get("/stream-with-context")
    def stream_with_context() -> Any:
        @flask.stream_with_context
        def chunks() -> Iterator[str]:
            # The request is still there while the body is produced.
            for word in request.args.getlist("word"):
                yield word + "\n"

        return flask.Response(chunks(), mimetype="text/plain")

    return legacy


async def _starlette_not_found(request: StarletteRequest, exc: Exception) -> Response:
    return PlainTextResponse(NOT_FOUND_MARKS["starlette"], status_code=404)


def _multipart_parts(content_type: str, body: bytes) -> dict[str, tuple[str | None, str, bytes]]:
    """name -> (filename, content type, data): Starlette's own form parser needs
    python-multipart, which is not installed next to dualweb's ``multipart``."""
    boundary = content_type.partition("boundary=")[2].strip('"').encode()
    parts = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = head.decode()
        name = re.search(r' name="([^"]*)"', headers)
        filename = re.search(r' filename="([^"]*)"', headers)
        kind = re.search(r"(?i)content-type: *(\S+)", headers)
        assert name is not None
        parts[name[1]] = (
            filename[1] if filename else None,
            kind[1] if kind else "text/plain",
            data.removesuffix(b"\r\n"),
        )
    return parts


def make_starlette() -> Starlette:
    async def index(request: StarletteRequest) -> Response:
        return PlainTextResponse("starlette index")

    async def hello(request: StarletteRequest) -> Response:
        return PlainTextResponse(f"hello {request.path_params['name']}")

    async def urls(request: StarletteRequest) -> Response:
        absolute = request.url_for("hello", name="x")
        return JSONResponse(
            {
                "hello": absolute.path,
                "absolute": str(absolute),
                "prefix": request.scope["root_path"],
                "inner": request.url.path.removeprefix(request.scope["root_path"]),
                "query": request.query_params.getlist("q"),
            }
        )

    async def go(request: StarletteRequest) -> Response:
        response = RedirectResponse(request.url_for("hello", name="there"))
        # Starlette sends none; wsgiref.validate (the tests' WSGI side) insists.
        response.headers["content-type"] = "text/plain"
        return response

    async def new(request: StarletteRequest) -> Response:
        return PlainTextResponse(f"starlette new ({request.method})")

    async def form(request: StarletteRequest) -> Response:
        fields = parse_qs((await request.body()).decode(), keep_blank_values=True)
        return JSONResponse(fields)

    async def json_echo(request: StarletteRequest) -> Response:
        return JSONResponse({"received": await request.json()})

    async def upload(request: StarletteRequest) -> Response:
        parts = _multipart_parts(request.headers["content-type"], await request.body())
        filename, content_type, data = parts["file"]
        return JSONResponse(upload_report(parts["note"][2].decode(), filename, content_type, data))

    async def cookies(request: StarletteRequest) -> Response:
        response = PlainTextResponse("cookies set")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2", httponly=True)
        response.set_cookie("c", "3", path="/starlette")
        return response

    async def echo_cookies(request: StarletteRequest) -> Response:
        return JSONResponse(request.cookies)

    async def stream(request: StarletteRequest) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for number in range(STREAM_CHUNKS):
                yield stream_chunk(number)

        return StreamingResponse(chunks(), media_type="text/plain")

    return Starlette(
        routes=[
            Route("/", index),
            Route("/hello/{name}", hello, name="hello"),
            Route("/urls", urls),
            Route("/go", go),
            Route("/new", new, methods=["GET", "POST"]),
            Route("/form", form, methods=["POST"]),
            Route("/json", json_echo, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
            Route("/cookies", cookies),
            Route("/echo-cookies", echo_cookies),
            Route("/stream", stream),
        ],
        exception_handlers={404: _starlette_not_found},
    )
