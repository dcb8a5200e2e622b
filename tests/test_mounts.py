"""Mounted apps: raw WSGI apps, raw ASGI apps and dualweb Apps below a prefix.

The mounted apps are written by hand here, so each step of the bridge
(environ, scope, start_response, write(), close(), receive/send) is checked
on its own; real frameworks and real servers are covered elsewhere. Every
HTTP test runs under both interfaces (``make_client``); mounted WSGI apps
are wrapped in ``wsgiref.validate.validator`` where PEP 3333 allows it, so
the environ the mount builds is checked too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest
from asgiref.wsgi import WsgiToAsgiInstance

from dualweb import App, HTTPException, PlainTextResponse, StreamingResponse
from dualweb._mount_wsgi import WSGIInput, call_wsgi_app, environ_from_scope
from dualweb.middleware import Middleware, ProxyHeadersMiddleware
from dualweb.mounts import Mount, detect_interface
from dualweb.testing import WebSocketRejected

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

TEXT = ("Content-Type", "text/plain")
JSON = ("Content-Type", "application/json")


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``predicate()`` comes true (for what happens after the response)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def read_truncated(response: httpx.Response) -> bytes:
    """What arrived of a body that must break off before its end."""
    received: list[bytes] = []
    try:
        for chunk in response.iter_bytes():
            received.append(chunk)
    except httpx.RemoteProtocolError:
        return b"".join(received)
    raise AssertionError(f"the response was complete: {received}")


# -- hand-written apps ---------------------------------------------------------------------

ENVIRON_KEYS = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "HTTP_HOST",
    "HTTP_COOKIE",
    "HTTP_X_CUSTOM",
    "wsgi.url_scheme",
    "wsgi.input_terminated",
)


def environ_echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Answers with the environ it was given (and the body, read as PEP 3333 says)."""
    seen = {key: environ.get(key) for key in ENVIRON_KEYS}
    length = environ.get("CONTENT_LENGTH") or "0"
    seen["body"] = environ["wsgi.input"].read(int(length)).decode("latin-1")
    seen["wsgi.version"] = list(environ["wsgi.version"])
    body = json.dumps(seen).encode()
    start_response("200 OK", [JSON, ("Content-Length", str(len(body)))])
    return [body]


async def read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body an ASGI app receives, and the messages it came in."""
    messages = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] == "http.disconnect":
            return body, messages
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, messages


async def scope_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the scope it was given."""
    body, _ = await read_body(receive)
    seen = {
        key: scope.get(key)
        for key in ("type", "method", "root_path", "path", "scheme", "http_version")
    }
    seen["raw_path"] = scope.get("raw_path", b"").decode("latin-1")
    seen["query_string"] = scope["query_string"].decode("latin-1")
    seen["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
    seen["client"] = list(scope["client"]) if scope.get("client") else None
    seen["server"] = list(scope["server"]) if scope.get("server") else None
    seen["extensions"] = sorted(scope.get("extensions") or {})
    seen["body"] = body.decode("latin-1")
    payload = json.dumps(seen).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def path_app() -> App:
    """A dualweb App that answers with where it sees itself mounted."""
    app = App()

    @app.route("/{rest:path}", ["GET", "POST", "PUT"], name="where")
    def where(request, rest):
        return {
            "method": request.method,
            "root_path": request.root_path,
            "path": request.path,
            "query": request.query_string,
            "url": request.url,
            "client": list(request.client) if request.client is not None else None,
            "self": request.url_path_for("where", rest="x"),
        }

    return app


def wsgi_app(
    *chunks: bytes,
    status: str = "200 OK",
    headers: list[tuple[str, str]] | None = None,
    sequence: Callable[[Any], Any] = list,
) -> Callable[[Environ, StartResponse], Any]:
    """A WSGI app that answers with ``chunks``, as a list (or ``sequence``)."""

    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response(status, [TEXT] if headers is None else headers)
        return sequence(chunks)

    return app


class ClosingBody:
    """A WSGI iterable that records how far it was iterated and whether it was closed."""

    def __init__(self, chunks: list[bytes], *, fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.fail_after = fail_after
        self.produced: list[bytes] = []
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_after:
                raise RuntimeError("the body broke")
            self.produced.append(chunk)
            yield chunk

    def close(self) -> None:
        self.closed += 1


def closing_app(
    body: ClosingBody, headers: list[tuple[str, str]] | None = None, status: str = "200 OK"
) -> Callable[[Environ, StartResponse], ClosingBody]:
    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        bodiless = status[:3] in ("204", "304")
        start_response(status, [*([] if bodiless else [TEXT]), *(headers or [])])
        return body

    return app


def asgi_app(*messages: Message) -> Callable[[Scope, Receive, Send], Any]:
    """An ASGI app that sends ``messages`` (after reading the body)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        for message in messages:
            await send(message)

    return app


def start(status: int = 200, *headers: tuple[bytes, bytes]) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain"), *headers],
    }


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def make_mounted(kind: str, calls: list[str] | None = None) -> Any:
    """A mounted app of each kind that answers ``mounted <method> <path>``.

    Each call appends ``kind`` to ``calls``, if given.
    """
    record = calls.append if calls is not None else lambda kind: None
    if kind == "wsgi":

        def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
            record(kind)
            start_response("200 OK", [TEXT])
            text = f"mounted {environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
            return [text.encode()]

        return app
    if kind == "asgi":

        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            record(kind)
            await read_body(receive)
            text = f"mounted {scope['method']} {scope['path'][len(scope['root_path']) :]}"
            await send(start())
            await send(body(text.encode()))

        return asgi
    child = App()

    @child.route("/{rest:path}", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
    def any_method(request, rest):
        record(kind)
        return f"mounted {request.method} {request.path}"

    return child


KINDS = ["wsgi", "asgi", "dualweb"]


# -- what the mounted app sees: paths ------------------------------------------------------

PATHS = [
    # mount prefix, request path, SCRIPT_NAME / root_path, PATH_INFO / path below it
    ("/prefix", "/prefix", "/prefix", ""),
    ("/prefix", "/prefix/", "/prefix", "/"),
    ("/prefix", "/prefix/a/b", "/prefix", "/a/b"),
    ("/prefix/", "/prefix/a", "/prefix", "/a"),
    ("/a/b", "/a/b/c/", "/a/b", "/c/"),
    ("/", "/", "", "/"),
    ("/", "/x/y", "", "/x/y"),
    ("", "/x", "", "/x"),
]


@pytest.mark.parametrize(("prefix", "path", "script_name", "path_info"), PATHS)
def test_wsgi_app_sees_script_name_and_path_info(
    make_client, prefix, path, script_name, path_info
):
    app = App()
    app.mount(prefix, validator(environ_echo))
    seen = make_client(app).get(path).json()
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == (script_name, path_info)


@pytest.mark.parametrize(("prefix", "path", "root_path", "below"), PATHS)
def test_asgi_app_sees_root_path_and_path(make_client, prefix, path, root_path, below):
    app = App()
    app.mount(prefix, scope_echo)
    seen = make_client(app).get(path).json()
    # ASGI's path includes the root path.
    assert (seen["root_path"], seen["path"]) == (root_path, root_path + below)
    assert seen["raw_path"] == path


@pytest.mark.parametrize(("prefix", "path", "root_path", "below"), PATHS)
def test_dualweb_app_sees_root_path_and_path(make_client, prefix, path, root_path, below):
    app = App()
    app.mount(prefix, path_app())
    seen = make_client(app).get(path).json()
    assert (seen["root_path"], seen["path"]) == (root_path, below or "/")
    assert seen["self"] == root_path + "/x"


def test_non_ascii_paths_and_raw_query_strings(make_client):
    app = App()
    app.mount("/wé", validator(environ_echo))
    app.mount("/aé", scope_echo)
    app.mount("/dé", path_app())
    client = make_client(app)
    query = "q=%C3%BC&x=a+b&flag&e=%3D%26"
    seen = client.get(f"/wé/ünï/%2Fx?{query}").json()
    # PEP 3333: UTF-8 bytes, decoded as latin-1; the query string as sent.
    assert seen["SCRIPT_NAME"].encode("latin-1").decode() == "/wé"
    assert seen["PATH_INFO"].encode("latin-1").decode() == "/ünï//x"
    assert seen["QUERY_STRING"] == query
    seen = client.get(f"/aé/ünï?{query}").json()
    assert (seen["root_path"], seen["path"]) == ("/aé", "/aé/ünï")
    # As a server received it, whichever interface the outer App speaks.
    assert seen["raw_path"] == "/a%C3%A9/%C3%BCn%C3%AF"
    assert seen["query_string"] == query
    seen = client.get(f"/dé/ünï?{query}").json()
    assert (seen["root_path"], seen["path"], seen["query"]) == ("/dé", "/ünï", query)
    assert seen["url"] == f"http://testserver/d%C3%A9/%C3%BCn%C3%AF?{query}"


def test_nested_mounts_add_up_their_prefixes(make_client):
    innermost = path_app()
    innermost.mount("/w", validator(environ_echo))
    innermost.mount("/s", scope_echo)
    middle = App()
    middle.mount("/c", innermost)
    outer = App()
    outer.mount("/a/b", middle)
    client = make_client(outer)
    seen = client.get("/a/b/c/x/y?z=1").json()
    assert (seen["root_path"], seen["path"], seen["query"]) == ("/a/b/c", "/x/y", "z=1")
    assert seen["self"] == "/a/b/c/x"
    seen = client.get("/a/b/c/w/deep").json()
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/a/b/c/w", "/deep")
    seen = client.get("/a/b/c/s/deep").json()
    assert (seen["root_path"], seen["path"]) == ("/a/b/c/s", "/a/b/c/s/deep")


def test_raw_non_ascii_query_bytes_become_latin_1():
    # What uvicorn passes on for a raw byte the client did not escape.
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/m/x",
        "root_path": "",
        "query_string": b"a=\xff\xe9",
        "headers": [],
    }
    environ = environ_from_scope(scope, "/m", "/x", None)  # type: ignore[arg-type]
    assert environ["QUERY_STRING"] == "a=\xff\xe9"
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/m", "/x")
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert "REMOTE_PORT" not in environ


# -- what the mounted app sees: the rest of the environ and scope ------------------------


def test_wsgi_environ_has_what_apps_rely_on(make_client, interface):
    app = App()
    app.mount("/w", validator(environ_echo))
    client = make_client(app, base_url="https://example.org:8443", client=("10.1.2.3", 4567))
    response = client.post(
        "/w/form?x=1",
        content=b"a=1&b=2",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Custom": "yes"},
    )
    seen = response.json()
    assert seen == {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/w",
        "PATH_INFO": "/form",
        "QUERY_STRING": "x=1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": "7",
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "8443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.1.2.3",
        "REMOTE_PORT": "4567",
        "HTTP_HOST": "example.org:8443",
        "HTTP_COOKIE": None,
        "HTTP_X_CUSTOM": "yes",
        "wsgi.url_scheme": "https",
        "wsgi.input_terminated": True,
        "wsgi.version": [1, 0],
        "body": "a=1&b=2",
    }


def test_asgi_scope_has_what_apps_rely_on(make_client, interface):
    app = App()
    app.mount("/a", scope_echo)
    client = make_client(app, base_url="https://example.org:8443", client=("10.1.2.3", 4567))
    response = client.put("/a/x?y=2", content=b"data", headers={"X-Custom": "yes"})
    seen = response.json()
    assert seen["type"] == "http"
    assert seen["method"] == "PUT"
    assert seen["scheme"] == "https"
    assert seen["http_version"] == "1.1"
    assert seen["query_string"] == "y=2"
    assert seen["client"] == ["10.1.2.3", 4567]
    assert seen["server"] == ["example.org", 8443]
    assert seen["extensions"] == []
    assert seen["body"] == "data"
    headers = dict(seen["headers"])
    assert headers["x-custom"] == "yes"
    assert headers["host"] == "example.org:8443"
    assert headers["content-length"] == "4"


def test_only_the_tls_scope_extension_is_passed_on():
    seen: list[Scope] = []

    async def record(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await send(start())
        await send(body(b"ok"))

    app = App()
    app.mount("/a", record)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/a/x",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "extensions": {"tls": {"tls_version": 0x0304}, "http.response.pathsend": {}},
    }
    asyncio.run(app.asgi(scope, receive, send))
    assert seen[0]["extensions"] == {"tls": {"tls_version": 0x0304}}
    assert sent[-1]["body"] == b"ok"


def test_mounted_apps_see_what_the_proxy_headers_say(make_client):
    app = App()
    app.add_middleware(ProxyHeadersMiddleware(["127.0.0.1"]))
    app.mount("/w", validator(environ_echo))
    app.mount("/a", scope_echo)
    app.mount("/d", path_app())
    client = make_client(app)
    forwarded = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "public.example",
    }
    seen = client.get("/w/x", headers=forwarded).json()
    assert (seen["REMOTE_ADDR"], seen["REMOTE_PORT"]) == ("203.0.113.7", None)
    assert (seen["wsgi.url_scheme"], seen["HTTP_HOST"]) == ("https", "public.example")
    seen = client.get("/a/x", headers=forwarded).json()
    assert (seen["client"], seen["scheme"]) == (["203.0.113.7", None], "https")
    assert dict(seen["headers"])["host"] == "public.example"
    seen = client.get("/d/x", headers=forwarded).json()
    assert (seen["client"], seen["url"]) == (["203.0.113.7", None], "https://public.example/d/x")
    # Without the headers: what the server said.
    seen = client.get("/d/x").json()
    assert (seen["client"], seen["url"]) == (["127.0.0.1", 50000], "http://testserver/d/x")


def test_mounted_dualweb_app_request_without_a_host_header():
    # ASGI allows a request without Host (HTTP/1.0) or client: the server's name is used.
    child = path_app()
    child.mount("/w", validator(environ_echo))
    app = App()
    app.mount("/d", child)

    def request(path: str, **scope: Any) -> Any:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "root_path": "",
            "query_string": b"q=1",
            "headers": [],
            "server": ("example.com", 8000),
            **scope,
        }
        asyncio.run(app.asgi(scope, receive, send))
        return json.loads(sent[-1]["body"])

    seen = request("/d/x", client=("10.0.0.1", 1234))
    assert seen["url"] == "http://example.com:8000/d/x?q=1"
    assert seen["client"] == ["10.0.0.1", 1234]
    seen = request("/d/w/x")
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"], seen["REMOTE_ADDR"]) == ("/d/w", "/x", None)
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("example.com", "8000")


def test_several_cookie_headers(make_client, interface):
    app = App()
    app.mount("/w", validator(environ_echo))
    app.mount("/a", scope_echo)
    client = make_client(app)
    headers = [("Cookie", "a=1"), ("Cookie", "b=2")]
    seen = client.get("/w/", headers=headers).json()
    if interface == "asgi":
        # HTTP/2 sends one Cookie field per cookie: joined as cookies are.
        assert seen["HTTP_COOKIE"] == "a=1; b=2"
    else:
        # The server's own environ, as it made it.
        assert seen["HTTP_COOKIE"] == "a=1,b=2"
    seen = client.get("/a/", headers=headers).json()
    cookies = [value for name, value in seen["headers"] if name == "cookie"]
    assert cookies == (["a=1", "b=2"] if interface == "asgi" else ["a=1,b=2"])


@pytest.mark.skipif(
    "duplicate_header_limit" not in inspect.signature(WsgiToAsgiInstance).parameters,
    reason="asgiref < 3.11.1 has no limit",
)
def test_too_many_duplicate_headers_are_a_bad_request(make_client, interface):
    app = App()
    app.mount("/w", validator(environ_echo))
    headers = [("X-Dup", str(n)) for n in range(150)]
    response = make_client(app).get("/w/", headers=headers)
    if interface == "asgi":
        assert (response.status_code, response.text) == (400, "Too many duplicate headers")
    else:
        assert response.status_code == 200


# -- which requests go to the mount ----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_outer_routes_win_for_their_methods(make_client, kind):
    app = App()
    app.mount("/legacy", make_mounted(kind))

    @app.get("/legacy/new")
    def new(request):
        return "outer new"

    @app.post("/legacy")
    def root_post(request):
        return "outer root"

    client = make_client(app)
    assert client.get("/legacy/new").text == "outer new"
    head = client.head("/legacy/new")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len("outer new"))
    assert client.post("/legacy/new").text == "mounted POST /new"
    assert client.delete("/legacy/new").text == "mounted DELETE /new"
    assert client.options("/legacy/new").text == "mounted OPTIONS /new"
    assert client.get("/legacy/old").text == "mounted GET /old"
    assert client.request("PATCH", "/legacy/old/x").text == "mounted PATCH /old/x"
    assert client.post("/legacy").text == "outer root"
    assert client.put("/legacy").text.startswith("mounted PUT ")


@pytest.mark.parametrize("kind", KINDS)
def test_requests_outside_the_prefix_are_unchanged(make_client, kind):
    app = App()
    app.mount("/prefix", make_mounted(kind))

    @app.post("/form")
    def form(request):
        return "posted"

    @app.get("/items/")
    def items(request):
        return "items"

    client = make_client(app)
    assert client.get("/prefixx").status_code == 404
    assert client.get("/prefixx/a").status_code == 404
    assert client.get("/pre").status_code == 404
    assert client.get("/nowhere").status_code == 404
    not_allowed = client.get("/form")
    assert (not_allowed.status_code, not_allowed.headers["allow"]) == (405, "OPTIONS, POST")
    options = client.options("/form")
    assert (options.status_code, options.headers["allow"]) == (204, "OPTIONS, POST")
    redirect = client.get("/items")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/items/")
    assert client.post("/form").text == "posted"
    # The prefix itself, with or without a slash, is the mount's: no redirect.
    assert client.get("/prefix").status_code == 200
    assert client.get("/prefix/").status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_a_root_mount_takes_what_no_route_takes(make_client, kind):
    app = App()
    app.mount("/", make_mounted(kind))

    @app.get("/api/ping")
    def ping(request):
        return "pong"

    client = make_client(app)
    assert client.get("/api/ping").text == "pong"
    assert client.post("/api/ping").text == "mounted POST /api/ping"
    assert client.get("/anything/else").text == "mounted GET /anything/else"
    assert client.get("/").text == "mounted GET /"


@pytest.mark.parametrize("kind", KINDS)
def test_head_goes_to_the_mounted_app(make_client, kind):
    app = App()
    app.mount("/m", make_mounted(kind))
    response = make_client(app).head("/m/x")
    assert (response.status_code, response.content) == (200, b"")


# -- responses of a mounted WSGI app ---------------------------------------------------------


@pytest.mark.parametrize("status", ["201 Created", "404 Not Found", "418 Teapot", "299 Custom"])
def test_wsgi_status_codes_pass_through(make_client, status):
    app = App()
    app.mount("/w", wsgi_app(b"body", status=status))
    response = make_client(app).get("/w/")
    assert (response.status_code, response.text) == (int(status[:3]), "body")


def test_wsgi_headers_pass_through(make_client):
    headers = [
        TEXT,
        ("Location", "/elsewhere"),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2; HttpOnly"),
        ("X-Thing", "value"),
    ]
    app = App()
    app.mount("/w", wsgi_app(b"moved", status="302 Found", headers=headers))
    response = make_client(app).get("/w/")
    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert response.headers["x-thing"] == "value"
    assert response.text == "moved"


def test_wsgi_content_length_is_added_to_a_whole_body(make_client):
    def written(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [TEXT])
        write(b"all ")
        write(b"written")
        return []

    app = App()
    app.mount("/list", wsgi_app(b"one chunk"))
    app.mount("/tuple", wsgi_app(b"a", b"", b"b", sequence=tuple))
    app.mount("/empty", wsgi_app())
    app.mount("/written", written)
    client = make_client(app)
    response = client.get("/list/")
    assert (response.text, response.headers["content-length"]) == ("one chunk", "9")
    response = client.get("/tuple/")
    assert (response.text, response.headers["content-length"]) == ("ab", "2")
    response = client.get("/empty/")
    assert (response.text, response.headers["content-length"]) == ("", "0")
    response = client.get("/written/")
    assert (response.text, response.headers["content-length"]) == ("all written", "11")


def test_wsgi_content_length_of_the_app_is_kept_and_enforced(make_client):
    app = App()
    app.mount("/exact", wsgi_app(b"hello", headers=[TEXT, ("Content-Length", "5")]))
    app.mount("/more", wsgi_app(b"hello world", headers=[TEXT, ("Content-Length", " 5 ")]))
    streamed = ClosingBody([b"abc", b"def", b"ghi"])
    app.mount("/streamed", closing_app(streamed, [("Content-Length", "5")]))
    client = make_client(app)
    response = client.get("/exact/")
    assert (response.content, response.headers.get_list("content-length")) == (b"hello", ["5"])
    # A server never sends more than Content-Length.
    response = client.get("/more/")
    assert response.content == b"hello"
    response = client.get("/streamed/")
    assert (response.content, response.headers["content-length"]) == (b"abcde", "5")
    # Past Content-Length the rest of the body is not even produced.
    assert streamed.produced == [b"abc", b"def"]
    assert streamed.closed == 1


def test_wsgi_invalid_content_length_is_replaced(make_client):
    app = App()
    app.mount("/w", wsgi_app(b"abc", headers=[TEXT, ("Content-Length", "bogus")]))
    response = make_client(app).get("/w/")
    assert response.content == b"abc"
    assert response.headers.get_list("content-length") == ["3"]


@pytest.mark.parametrize("streamed", [False, True])
def test_wsgi_invalid_headers_give_a_500_and_close_the_body(make_client, caplog, streamed):
    failing = ClosingBody([b"a", b"b"] if streamed else [b"ab"])
    headers = (
        [("X-Bad", "line\nbreak")] if streamed else [("Content-Length", "2"), ("X-Bad", "a\rb")]
    )
    app = App()
    app.mount("/w", closing_app(failing, headers))
    with caplog.at_level(logging.ERROR, "dualweb"):
        response = make_client(app).get("/w/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert failing.closed == 1


def test_wsgi_head_keeps_the_apps_content_length(make_client):
    streamed = ClosingBody([b"abc", b"def"])
    app = App()
    app.mount("/whole", wsgi_app(b"hello", headers=[TEXT, ("Content-Length", "5")]))
    app.mount("/none", wsgi_app(b"hello"))
    app.mount("/streamed", closing_app(streamed, [("Content-Length", "6")]))
    client = make_client(app)
    response = client.head("/whole/")
    assert (response.content, response.headers["content-length"]) == (b"", "5")
    response = client.head("/none/")
    assert response.content == b""
    assert "content-length" not in response.headers
    response = client.head("/streamed/")
    assert (response.content, response.headers["content-length"]) == (b"", "6")
    assert streamed.closed == 1


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_wsgi_bodiless_statuses_drop_the_body(make_client, status):
    streamed = ClosingBody([b"not", b"sent"])
    app = App()
    app.mount("/whole", wsgi_app(b"not sent", status=status, headers=[]))
    app.mount("/streamed", closing_app(streamed, status=status))
    client = make_client(app)
    for path in ("/whole/", "/streamed/"):
        response = client.get(path)
        assert (response.status_code, response.content) == (int(status[:3]), b"")
        assert "content-length" not in response.headers
    assert streamed.closed == 1


def test_wsgi_streamed_body_arrives_chunk_by_chunk_and_lazily(make_client):
    progress: list[str] = []
    go_on = threading.Event()

    def stream(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [TEXT])
        progress.append("one")
        yield b"one"
        # Waits for the test, which has the headers by then.
        assert go_on.wait(10)
        progress.append("two")
        yield b"two"
        progress.append("three")
        yield b"three"

    app = App()
    app.mount("/s", stream)
    with make_client(app).stream("GET", "/s/") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        assert progress == ["one"]
        go_on.set()
        assert list(response.iter_bytes()) == [b"one", b"two", b"three"]
    assert progress == ["one", "two", "three"]


def test_wsgi_generator_may_start_the_response_late(make_client):
    def late(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        yield b""  # PEP 3333: start_response may wait until the first non-empty chunk
        start_response("201 Created", [TEXT])
        yield b""
        yield b"late"

    app = App()
    app.mount("/late", late)
    response = make_client(app).get("/late/")
    assert (response.status_code, response.text) == (201, "late")


def test_wsgi_write_callable(make_client):
    def writer(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [TEXT])
        write(b"a")
        yield b"b"
        write(b"c")
        yield b"d"
        yield b""
        write(b"e")

    def write_then_list(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [TEXT, ("Content-Length", "4")])
        write(b"ab")
        return [b"cdef"]

    app = App()
    app.mount("/gen", writer)
    app.mount("/list", write_then_list)
    client = make_client(app)
    assert client.get("/gen/").text == "abcde"
    response = client.get("/list/")
    assert (response.text, response.headers["content-length"]) == ("abcd", "4")


def test_wsgi_start_response_with_exc_info_before_the_headers(make_client):
    def recovering(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [TEXT, ("X-First", "1")])
        try:
            raise ValueError("oops")
        except ValueError:
            start_response("500 Internal Server Error", [TEXT, ("X-Second", "2")], sys.exc_info())
        return [b"sorry"]

    app = App()
    app.mount("/w", recovering)
    response = make_client(app).get("/w/")
    assert (response.status_code, response.text) == (500, "sorry")
    assert response.headers["x-second"] == "2"
    assert "x-first" not in response.headers


def test_wsgi_start_response_with_exc_info_after_the_headers(make_client, caplog):
    def failing(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [TEXT])
        yield b"partial"
        try:
            raise ValueError("mid-stream")
        except ValueError:
            # Too late to change the status: PEP 3333 says start_response re-raises.
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        yield b"never"

    app = App()
    app.mount("/w", failing)
    with caplog.at_level(logging.ERROR, "dualweb"), pytest.raises(httpx.RemoteProtocolError):
        make_client(app).get("/w/")
    errors = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], ValueError)]
    assert len(errors) == 1
    assert "streamed body" in errors[0].getMessage()


@pytest.mark.parametrize(
    ("app", "error"),
    [
        (lambda environ, start_response: [b"no start_response"], "did not call start_response"),
        (
            lambda environ, start_response: start_response("20x OK", [TEXT]),
            "invalid WSGI status line",
        ),
        (
            lambda environ, start_response: (
                start_response("200 OK", [TEXT]),
                start_response("200 OK", [TEXT]),
            ),
            "called twice",
        ),
    ],
)
def test_wsgi_misbehaving_apps_give_a_500(make_client, caplog, app, error):
    outer = App()
    outer.mount("/w", app)
    with caplog.at_level(logging.ERROR, "dualweb"):
        response = make_client(outer).get("/w/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    assert error in str(logged[0].exc_info[1])


def test_wsgi_app_raising_before_its_first_chunk(make_client, caplog):
    failing = ClosingBody([b"never"], fail_after=0)
    app = App()
    app.mount("/w", closing_app(failing))
    with caplog.at_level(logging.ERROR, "dualweb"):
        response = make_client(app).get("/w/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert "Traceback" not in response.text
    assert failing.closed == 1
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info] == [("the body broke",)]


def test_wsgi_app_raising_in_its_call(make_client, caplog):
    def broken(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise LookupError("no luck")

    app = App()
    app.mount("/w", broken)
    with caplog.at_level(logging.ERROR, "dualweb"):
        response = make_client(app).get("/w/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert [type(r.exc_info[1]) for r in caplog.records if r.exc_info] == [LookupError]


def test_wsgi_app_raising_after_its_first_chunk(make_client, caplog):
    failing = ClosingBody([b"first", b"second"], fail_after=1)
    app = App()
    app.mount("/w", closing_app(failing))
    client = make_client(app)
    with caplog.at_level(logging.ERROR, "dualweb"), client.stream("GET", "/w/") as response:
        assert response.status_code == 200
        received = read_truncated(response)
    assert received == b"first"
    assert failing.closed == 1
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info] == [("the body broke",)]


# -- close() of the WSGI iterable, however the response ends -----------------------------


def test_close_after_a_whole_body(make_client):
    whole = ClosingBody([b"all"])
    app = App()
    app.mount("/w", closing_app(whole, [("Content-Length", "3")]))
    assert make_client(app).get("/w/").text == "all"
    assert whole.closed == 1


def test_close_after_a_streamed_body(make_client):
    streamed = ClosingBody([b"a", b"b", b"c"])
    app = App()
    app.mount("/w", closing_app(streamed))
    with make_client(app).stream("GET", "/w/") as response:
        assert response.read() == b"abc"
    assert streamed.closed == 1


def test_close_after_a_replaced_response(make_client):
    streamed = ClosingBody([b"a", b"b", b"c"])
    app = App()
    app.mount("/w", closing_app(streamed))

    @app.after_request
    def replace(request, response):
        return PlainTextResponse("replaced", 203)

    response = make_client(app).get("/w/")
    assert (response.status_code, response.text) == (203, "replaced")
    assert streamed.closed == 1
    assert streamed.produced == [b"a"]


def test_close_when_the_client_stops_reading(make_client, interface):
    streamed = ClosingBody([b"x" * 1000] * 5000)
    app = App()
    app.mount("/w", closing_app(streamed))
    with make_client(app).stream("GET", "/w/") as response:
        first = next(response.iter_raw())
        assert first == b"x" * 1000
    assert eventually(lambda: streamed.closed == 1)
    if interface == "wsgi":
        # The server stopped asking: nothing more was produced.
        assert len(streamed.produced) <= 2


def test_close_after_an_error_mid_stream(make_client, caplog):
    failing = ClosingBody([b"a", b"b", b"c"], fail_after=2)
    app = App()
    app.mount("/w", closing_app(failing))
    with caplog.at_level(logging.ERROR, "dualweb"), pytest.raises(httpx.RemoteProtocolError):
        make_client(app).get("/w/")
    assert failing.closed == 1


# -- request bodies into a mounted WSGI app -----------------------------------------------


def input_ops(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Runs the wsgi.input calls the query string lists (``read:5,readline,...``)."""
    stream = environ["wsgi.input"]
    results: list[Any] = []
    for op in environ["QUERY_STRING"].split(","):
        name, _, arg = op.partition(":")
        if name == "iter":
            value: Any = list(stream)
        elif name == "read_none":
            value = stream.read(None)
        elif name == "close":
            value = stream.close()
        elif arg:
            value = getattr(stream, name)(int(arg))
        else:
            value = getattr(stream, name)()
        if isinstance(value, list):
            results.append([line.decode("latin-1") for line in value])
        elif isinstance(value, bytes):
            results.append(value.decode("latin-1"))
        else:
            results.append(value)
    payload = json.dumps(results).encode()
    start_response("200 OK", [JSON])
    return [payload]


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ("read", ["line1\nline2\nend"]),
        ("read_none", ["line1\nline2\nend"]),
        ("read:3,read:4,read:100,read:1", ["lin", "e1\nl", "ine2\nend", ""]),
        ("readline,readline,readline,readline", ["line1\n", "line2\n", "end", ""]),
        ("readline:3,readline:10,readline:2,readline:9", ["lin", "e1\n", "li", "ne2\n"]),
        ("readline:-1,readline:2,readline:9,readline:9", ["line1\n", "li", "ne2\n", "end"]),
        ("read:12,readline:2,readline:2,readline:2", ["line1\nline2\n", "en", "d", ""]),
        ("readlines", [["line1\n", "line2\n", "end"]]),
        ("readlines:3,read", [["line1\n"], "line2\nend"]),
        ("iter", [["line1\n", "line2\n", "end"]]),
        ("close,read", [None, "line1\nline2\nend"]),
    ],
)
def test_wsgi_input_reads(make_client, ops, expected):
    app = App()
    app.mount("/in", input_ops)
    response = make_client(app).post(f"/in/?{ops}", content=b"line1\nline2\nend")
    assert response.json() == expected


def test_wsgi_input_readline_without_newline_in_a_long_body(make_client):
    app = App()
    app.mount("/in", input_ops)
    data = b"y" * 200_000 + b"\n" + b"z" * 10
    response = make_client(app).post("/in/?readline:150000,readline,readline", content=data)
    first, second, third = response.json()
    assert (len(first), len(second), third) == (150_000, 50_001, "z" * 10)


BIG = bytes(range(256)) * 3600  # 900 KiB: within the default 1 MiB limit


def digest_app(reader: Callable[[Any], bytes]) -> Callable[[Environ, StartResponse], list[bytes]]:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        data = reader(environ["wsgi.input"])
        answer = f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
        start_response("200 OK", [TEXT])
        return [answer]

    return app


def read_in_pieces(stream: Any) -> bytes:
    pieces = []
    while piece := stream.read(10_000):
        pieces.append(piece)
    return b"".join(pieces)


@pytest.mark.parametrize(
    "reader",
    [lambda stream: stream.read(), read_in_pieces, lambda stream: b"".join(stream.readlines())],
    ids=["read", "read(n)", "readlines"],
)
@pytest.mark.parametrize("chunked", [False, True])
def test_wsgi_large_body_is_byte_exact(make_client, reader, chunked):
    app = App()
    app.mount("/in", digest_app(reader))
    content: Any = iter([BIG[:300_000], BIG[300_000:]]) if chunked else BIG
    response = make_client(app).post("/in/", content=content)
    assert response.text == f"{len(BIG)} {hashlib.sha256(BIG).hexdigest()}"


@pytest.mark.parametrize("kind", KINDS)
def test_declared_body_over_the_limit_is_refused_before_the_app_runs(make_client, kind):
    calls: list[str] = []
    mounted = make_mounted(kind, calls)
    app = App(max_body_size=100)
    app.mount("/m", mounted)
    client = make_client(app)
    response = client.post("/m/up", content=b"x" * 101)
    assert response.status_code == 413
    assert calls == []
    assert client.post("/m/up", content=b"x" * 100).text == "mounted POST /up"
    assert calls == [kind]


def test_chunked_body_over_the_limit_into_a_wsgi_app(make_client):
    seen: list[int] = []

    def reader(environ: Environ, start_response: StartResponse) -> list[bytes]:
        # The app sees the body end at the limit; the client gets a 413.
        seen.append(len(environ["wsgi.input"].read()))
        start_response("200 OK", [TEXT])
        return [b"not sent"]

    app = App(max_body_size=1000)
    app.mount("/in", reader)
    response = make_client(app).post("/in/", content=iter([b"x" * 600, b"y" * 600]))
    assert response.status_code == 413
    assert seen[0] < 1200


def test_the_mounts_own_body_limit_overrides_the_apps(make_client):
    app = App(max_body_size=10)
    app.mount("/big", digest_app(lambda stream: stream.read()), max_body_size=1000)
    app.mount("/small", digest_app(lambda stream: stream.read()), name="small", max_body_size=5)
    app.mount("/none", digest_app(lambda stream: stream.read()), max_body_size=None)
    client = make_client(app)
    assert client.post("/big/", content=b"x" * 1000).text.startswith("1000 ")
    assert client.post("/big/", content=b"x" * 1001).status_code == 413
    assert client.post("/big/", content=iter([b"x" * 1001])).status_code == 413
    assert client.post("/small/", content=b"x" * 6).status_code == 413
    assert client.post("/small/", content=iter([b"x" * 6])).status_code == 413
    assert client.post("/none/", content=BIG + BIG).text.startswith(f"{2 * len(BIG)} ")


def test_a_mounted_dualweb_app_meets_the_outer_limit_and_its_own(make_client):
    child = App(max_body_size=50)

    @child.post("/up")
    async def up(request):
        return str(len(await request.abody()))

    @child.post("/sync")
    def sync_up(request):
        return str(len(request.body()))

    @child.post("/roomy", max_body_size=None)
    def roomy(request):
        return str(len(request.body()))

    app = App(max_body_size=10_000)
    app.mount("/small", child, max_body_size=20)
    app.mount("/large", child, name="large")
    client = make_client(app)
    for path in ("/small/up", "/small/sync", "/small/roomy"):
        assert client.post(path, content=iter([b"x" * 20])).text == "20"
        # The mount's limit, for a body without Content-Length too.
        assert client.post(path, content=iter([b"x" * 21])).status_code == 413
    assert client.post("/large/up", content=iter([b"x" * 51])).status_code == 413
    assert client.post("/large/sync", content=b"x" * 51).status_code == 413
    assert client.post("/large/roomy", content=iter([b"x" * 9000])).text == "9000"
    assert client.post("/large/roomy", content=iter([b"x" * 10_001])).status_code == 413


def test_bodies_already_read_by_middleware_reach_the_mounted_app(make_client):
    class ReadsBody(Middleware):
        def before_request(self, request):
            request.state.length = len(request.body())

        def after_request(self, request, response):
            response.headers["X-Length"] = str(request.state.length)

    child = App()

    @child.post("/")
    async def echo(request):
        return await request.abody()

    app = App()
    app.add_middleware(ReadsBody())
    app.mount("/w", digest_app(lambda stream: stream.read()))
    app.mount("/a", scope_echo)
    app.mount("/d", child)
    client = make_client(app)
    response = client.post("/w/", content=b"abc")
    assert (response.text.split()[0], response.headers["x-length"]) == ("3", "3")
    response = client.post("/a/", content=b"abc")
    assert (response.json()["body"], response.headers["x-length"]) == ("abc", "3")
    response = client.post("/d/", content=b"abc")
    assert (response.content, response.headers["x-length"]) == (b"abc", "3")


# -- responses of a mounted ASGI app -------------------------------------------------------


def test_asgi_whole_response_gets_a_content_length(make_client):
    app = App()
    app.mount("/one", asgi_app(start(201, (b"x-a", b"1")), body(b"hello")))
    app.mount("/several", asgi_app(start(), body(b"a", True), body(b"b", True), body(b"c")))
    app.mount("/own", asgi_app(start(200, (b"content-length", b"2")), body(b"hi")))
    app.mount("/empty", asgi_app(start(), {"type": "http.response.body"}))
    client = make_client(app)
    response = client.get("/one/")
    assert (response.status_code, response.text) == (201, "hello")
    assert (response.headers["content-length"], response.headers["x-a"]) == ("5", "1")
    response = client.get("/several/")
    assert (response.text, response.headers["content-length"]) == ("abc", "3")
    response = client.get("/own/")
    assert (response.text, response.headers.get_list("content-length")) == ("hi", ["2"])
    response = client.get("/empty/")
    assert (response.text, response.headers["content-length"]) == ("", "0")


def test_asgi_headers_pass_through(make_client):
    app = App()
    app.mount(
        "/a",
        asgi_app(
            start(
                303,
                (b"location", b"/there"),
                (b"set-cookie", b"a=1"),
                (b"set-cookie", b"b=2"),
            ),
            body(b"see other"),
        ),
    )
    response = make_client(app).get("/a/")
    assert response.status_code == 303
    assert response.headers["location"] == "/there"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_asgi_head(make_client):
    seen: list[str] = []

    async def app_(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["method"])
        await send(start(200, (b"content-length", b"5")))
        await send(body(b""))

    app = App()
    app.mount("/a", app_)
    app.mount("/b", asgi_app(start(), body(b"hello")))
    client = make_client(app)
    response = client.head("/a/")
    assert (response.content, response.headers["content-length"]) == (b"", "5")
    assert seen == ["HEAD"]
    response = client.head("/b/")
    assert response.content == b""
    assert "content-length" not in response.headers


@pytest.mark.parametrize("status", [204, 304])
def test_asgi_bodiless_statuses_drop_the_body(make_client, status):
    async def streamed(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await asyncio.sleep(0)
        await send(body(b"not", True))
        await asyncio.sleep(0)
        await send(body(b"sent"))

    app = App()
    app.mount("/whole", asgi_app({"type": "http.response.start", "status": status}, body(b"no")))
    app.mount("/streamed", streamed)
    client = make_client(app)
    for path in ("/whole/", "/streamed/"):
        response = client.get(path)
        assert (response.status_code, response.content) == (status, b"")
        assert "content-length" not in response.headers


def test_asgi_streamed_body_arrives_lazily(make_client):
    progress: list[str] = []
    gate: dict[str, Any] = {}

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        gate["loop"] = asyncio.get_running_loop()
        gate["event"] = event = asyncio.Event()
        await send(start())
        progress.append("one")
        await send(body(b"one", True))
        await event.wait()
        progress.append("two")
        await send(body(b"two", True))
        await asyncio.sleep(0)
        progress.append("three")
        await send(body(b"three", True))
        await send(body(b""))

    app = App()
    app.mount("/s", stream)
    with make_client(app).stream("GET", "/s/") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        assert progress == ["one"]
        gate["loop"].call_soon_threadsafe(gate["event"].set)
        assert b"".join(response.iter_bytes()) == b"onetwothree"
    assert progress == ["one", "two", "three"]


def test_asgi_backpressure_keeps_a_large_body_complete(make_client, interface):
    sent: list[int] = []
    chunk = bytes(range(256)) * 400  # 100 KiB, over the 64 KiB high-water mark

    async def big(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        for n in range(20):
            await send(body(chunk, True))
            sent.append(n)
        await send(body(b""))

    app = App()
    app.mount("/big", big)
    with make_client(app).stream("GET", "/big/") as response:
        if interface == "wsgi":
            # Nothing pulls the body but the server: the app waits for it.
            assert len(sent) < 5
        data = response.read()
    assert data == chunk * 20
    assert sent == list(range(20))


def test_asgi_receive_says_disconnect_after_the_response(make_client):
    after: list[Message] = []

    async def app_(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        await send(start())
        await send(body(b"done"))
        after.append(await receive())

    app = App()
    app.mount("/a", app_)
    client = make_client(app)
    assert client.post("/a/", content=b"data").text == "done"
    client.close()  # waits for what runs after the response
    assert after == [{"type": "http.disconnect"}]


def test_asgi_request_body_in_messages(make_client):
    received: list[list[Message]] = []

    async def app_(scope: Scope, receive: Receive, send: Send) -> None:
        data, messages = await read_body(receive)
        received.append(messages)
        answer = f"{len(data)} {hashlib.sha256(data).hexdigest()}"
        await send(start())
        await send(body(answer.encode()))

    app = App()
    app.mount("/a", app_)
    client = make_client(app)
    for content in (BIG, iter([BIG[:100], BIG[100:]])):
        response = client.post("/a/", content=content)
        assert response.text == f"{len(BIG)} {hashlib.sha256(BIG).hexdigest()}"
    assert client.post("/a/").text.startswith("0 ")
    for messages in received:
        assert all(m["type"] == "http.request" for m in messages)
        assert [m["more_body"] for m in messages][-1] is False


def test_asgi_chunked_body_over_the_limit(make_client):
    got: list[Message] = []

    async def app_(scope: Scope, receive: Receive, send: Send) -> None:
        _, messages = await read_body(receive)
        got.extend(messages)
        await send(start())
        await send(body(b"not sent"))

    app = App()
    app.mount("/a", app_, max_body_size=1000)
    response = make_client(app).post("/a/", content=iter([b"x" * 1001]))
    assert response.status_code == 413
    assert got[-1] == {"type": "http.disconnect"}


def test_asgi_app_that_ignores_the_disconnect_still_gets_the_413(make_client):
    cancelled: list[bool] = []

    async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        try:
            await asyncio.Event().wait()  # never answers
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    app = App()
    app.mount("/a", stubborn, max_body_size=10)
    client = make_client(app)
    assert client.post("/a/", content=iter([b"x" * 11])).status_code == 413
    client.close()
    assert cancelled == [True]


def test_asgi_app_returning_without_a_response(make_client, caplog):
    app = App()
    app.mount("/a", asgi_app())
    with caplog.at_level(logging.ERROR, "dualweb"):
        response = make_client(app).get("/a/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    errors = [r for r in caplog.records if r.exc_info]
    assert len(errors) == 1
    assert "returned without a response" in str(errors[0].exc_info[1])


def test_asgi_app_raising_before_its_response(make_client, caplog):
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("no luck")

    app = App()
    app.mount("/a", broken)
    client = make_client(app)
    with caplog.at_level(logging.ERROR, "dualweb"):
        response = client.get("/a/")
        client.close()
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert [type(r.exc_info[1]) for r in caplog.records if r.exc_info] == [LookupError]


def test_asgi_app_raising_after_a_whole_response(make_client, caplog):
    async def late_failure(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        await send(body(b"complete"))
        raise LookupError("after the response")

    app = App()
    app.mount("/a", late_failure)
    client = make_client(app)
    with caplog.at_level(logging.ERROR, "dualweb"):
        assert client.get("/a/").text == "complete"
        client.close()
    errors = [r for r in caplog.records if r.exc_info]
    assert [r.getMessage() for r in errors] == ["Exception in a mounted ASGI app"]
    assert isinstance(errors[0].exc_info[1], LookupError)


@pytest.mark.parametrize("sent_before", [b"", b"partial"])
def test_asgi_app_raising_in_the_middle_of_its_body(make_client, caplog, sent_before):
    async def mid_failure(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        await send(body(sent_before, True))
        await asyncio.sleep(0)
        raise LookupError("mid-body")

    app = App()
    app.mount("/a", mid_failure)
    client = make_client(app)
    with caplog.at_level(logging.ERROR, "dualweb"):
        with client.stream("GET", "/a/") as response:
            assert response.status_code == 200
            received = read_truncated(response)
        client.close()
    assert received == sent_before
    # Logged once, by the adapter that could not finish the body.
    errors = [r for r in caplog.records if r.exc_info]
    assert len(errors) == 1
    assert isinstance(errors[0].exc_info[1], LookupError)


def test_asgi_app_returning_in_the_middle_of_its_body(make_client, caplog):
    async def quitter(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        await send(body(b"half", True))
        await asyncio.sleep(0)

    app = App()
    app.mount("/a", quitter)
    with caplog.at_level(logging.ERROR, "dualweb"), pytest.raises(httpx.RemoteProtocolError):
        make_client(app).get("/a/")
    errors = [r for r in caplog.records if r.exc_info]
    assert "returned before its response was complete" in str(errors[0].exc_info[1])


def test_asgi_messages_out_of_order_are_refused(make_client):
    errors: list[str] = []

    async def confused(scope: Scope, receive: Receive, send: Send) -> None:
        for message in (body(b"too early"), {"type": "http.response.trailers"}):
            try:
                await send(message)
            except RuntimeError as exc:
                errors.append(str(exc))
        await send(start())
        try:
            await send(start())
        except RuntimeError as exc:
            errors.append(str(exc))
        await send(body(b"fine"))
        try:
            await send(body(b"too late"))
        except RuntimeError as exc:
            errors.append(str(exc))

    app = App()
    app.mount("/a", confused)
    assert make_client(app).get("/a/").text == "fine"
    assert errors == [
        "http.response.body sent before http.response.start",
        "unexpected ASGI message from a mounted app: 'http.response.trailers'",
        "http.response.start sent twice",
        "http.response.body sent after the response was complete",
    ]


def test_asgi_app_failing_on_a_second_start_truncates_the_response(make_client, caplog):
    app = App()
    app.mount("/a", asgi_app(start(), start()))
    with caplog.at_level(logging.ERROR, "dualweb"), pytest.raises(httpx.RemoteProtocolError):
        make_client(app).get("/a/")
    errors = [r for r in caplog.records if r.exc_info]
    assert "sent twice" in str(errors[0].exc_info[1])


def test_asgi_websocket_upgrade_over_wsgi_is_refused(make_client, interface):
    app = App()
    app.mount("/a", scope_echo)
    response = make_client(app).get("/a/socket", headers={"Upgrade": "websocket"})
    if interface == "wsgi":
        assert response.status_code == 426
        assert "ASGI server" in response.text
    else:
        # An HTTP request with the header, as far as ASGI is concerned.
        assert response.json()["path"] == "/a/socket"


def test_abandoned_asgi_stream_cancels_the_app(make_client):
    events: list[str] = []

    async def endless(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        await send(body(b"first", True))
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    app = App()
    app.mount("/a", endless)
    client = make_client(app)
    with client.stream("GET", "/a/") as response:
        assert next(response.iter_raw()) == b"first"
    client.close()
    assert events == ["cancelled"]


def test_abandoned_asgi_stream_fails_the_apps_send(make_client):
    events: list[str] = []

    async def endless(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        try:
            while True:
                await send(body(b"x" * 100_000, True))
        except OSError:
            events.append("send failed")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    app = App()
    app.mount("/a", endless)
    client = make_client(app)
    with client.stream("GET", "/a/") as response:
        assert next(response.iter_raw())
    client.close()
    assert len(events) == 1


def test_asgi_app_cancelled_with_its_request(make_client):
    # The request's coroutine is cancelled (a timeout here) before the app answers.
    events: list[str] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    app = App()
    mount = app.mount("/slow", slow)

    @app.get("/timed")
    async def timed(request):
        try:
            return await asyncio.wait_for(mount.respond_asgi(request), 0.05)
        except asyncio.TimeoutError:
            return "timed out"

    client = make_client(app)
    assert client.get("/timed").text == "timed out"
    client.close()
    assert events == ["cancelled"]


# -- outer middleware, error handlers and hooks ------------------------------------------


class Tracer(Middleware):
    inline = True

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def before_request(self, request):
        self.log.append(f"{self.name}> {request.root_path}|{request.path}")

    def after_request(self, request, response):
        self.log.append(f"<{self.name} {response.status_code}")
        response.headers["X-" + self.name] = "seen"
        response.headers.append("Set-Cookie", f"{self.name}=1")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streamed", [False, True])
def test_outer_middleware_sees_mounted_requests_and_responses(make_client, kind, streamed):
    log: list[str] = []
    mounted = make_mounted(kind)
    if streamed and kind == "wsgi":
        mounted = closing_app(ClosingBody([b"a", b"b"]))
    elif streamed and kind == "asgi":
        mounted = asgi_app(start(), body(b"a", True), body(b"b"))
    elif streamed:

        @mounted.get("/streamed")
        def stream_it(request):
            return StreamingResponse(iter([b"a", b"b"]), media_type="text/plain")

    app = App()
    app.add_middleware(Tracer("outer", log))

    @app.before_request
    def hook_before(request):
        log.append("hook>")

    @app.after_request
    def hook_after(request, response):
        log.append("<hook")

    app.mount("/m", mounted)
    path = "/m/streamed" if streamed else "/m/x"
    response = make_client(app).get(path)
    assert response.status_code == 200
    if streamed:
        assert response.text == "ab"
    assert response.headers["x-outer"] == "seen"
    assert "outer=1" in response.headers.get_list("set-cookie")
    assert log == [f"outer> |{path}", "hook>", "<hook", "<outer 200"]


@pytest.mark.parametrize("kind", KINDS)
def test_before_hook_answering_means_the_mount_is_not_called(make_client, kind):
    calls: list[str] = []
    app = App()
    app.mount("/m", make_mounted(kind, calls))

    @app.before_request
    def gate(request):
        if "x-token" not in request.headers:
            return PlainTextResponse("denied", 401)
        return None

    client = make_client(app)
    response = client.get("/m/x")
    assert (response.status_code, response.text) == (401, "denied")
    assert calls == []
    assert client.get("/m/x", headers={"X-Token": "1"}).text == "mounted GET /x"
    assert calls == [kind]


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_outer_error_handlers_get_a_413_from_a_mount(make_client, kind):
    app = App(max_body_size=10)
    # Both read the body (only a body read past the limit is refused).
    app.mount("/m", digest_app(lambda stream: stream.read()) if kind == "wsgi" else scope_echo)

    @app.errorhandler(413)
    def too_large(request, exc):
        return {"error": "too large", "path": request.path}, 413

    client = make_client(app)
    for content in (b"x" * 11, iter([b"x" * 11])):
        response = client.post("/m/x", content=content)
        assert response.status_code == 413
        assert response.json() == {"error": "too large", "path": "/m/x"}


def test_outer_error_handlers_get_a_mounted_apps_exception(make_client):
    def broken(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise LookupError("no luck")

    app = App()
    app.mount("/w", broken)

    @app.errorhandler(LookupError)
    def lookup(request, exc):
        return f"handled {exc}", 503

    response = make_client(app).get("/w/")
    assert (response.status_code, response.text) == (503, "handled no luck")


def test_mounted_dualweb_app_runs_its_own_middleware_and_handlers(make_client):
    log: list[str] = []
    child = App()
    child.add_middleware(Tracer("inner", log))

    @child.before_request
    def child_hook(request):
        log.append("child hook")

    @child.errorhandler(404)
    def child_404(request, exc):
        return PlainTextResponse("child 404", 404)

    @child.get("/x")
    def x(request):
        log.append("handler")
        return "child"

    @child.get("/boom")
    def boom(request):
        raise RuntimeError("child failure")

    app = App()
    app.add_middleware(Tracer("outer", log))
    app.mount("/c", child)

    @app.errorhandler(404)
    def outer_404(request, exc):
        return PlainTextResponse("outer 404", 404)

    @app.errorhandler(500)
    def outer_500(request, exc):
        return PlainTextResponse("outer 500", 500)

    client = make_client(app)
    response = client.get("/c/x")
    assert response.text == "child"
    assert (response.headers["x-inner"], response.headers["x-outer"]) == ("seen", "seen")
    assert log == [
        "outer> |/c/x",
        "inner> /c|/x",
        "child hook",
        "handler",
        "<inner 200",
        "<outer 200",
    ]
    assert client.get("/c/missing").text == "child 404"
    assert client.get("/missing").text == "outer 404"
    response = client.get("/c/boom")
    # The child's own 500 page: the outer error handlers do not see it.
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_tasks_and_uploads_of_a_mounted_dualweb_app(make_client):
    done: list[str] = []
    uploads: list[Any] = []
    child = App(spool_threshold=10)

    @child.post("/up")
    async def up(request):
        form = await request.aform()
        uploads.extend(form.files.values())
        request.add_task(done.append, "request task")
        response = PlainTextResponse(str(uploads[-1].size))
        response.add_task(done.append, "response task")
        return response

    app = App()
    app.mount("/c", child)
    client = make_client(app)
    files = {"f": ("f.bin", b"z" * 100, "application/octet-stream")}
    response = client.post("/c/up", files=files)
    assert response.text == "100"
    assert eventually(lambda: len(done) == 2)
    assert done == ["request task", "response task"]
    assert eventually(lambda: uploads[0].file.closed)


# -- reverse routing and mount() arguments -------------------------------------------------


def test_url_path_for_mounts():
    inner = App()

    @inner.get("/items/{id:int}")
    def item(request, id):
        return "item"

    child = App()

    @child.get("/users/{name}")
    def user(request, name):
        return "user"

    child.mount("/inner", inner)
    app = App()
    app.mount("/legacy", make_mounted("wsgi"))
    app.mount("/child/", child)
    app.mount("/raw", make_mounted("asgi"), name="other")
    assert app.url_path_for("legacy") == "/legacy/"
    assert app.url_path_for("legacy", path="/a/b") == "/legacy/a/b"
    assert app.url_path_for("legacy", path="a b") == "/legacy/a b"
    assert app.url_path_for("other", path="x") == "/raw/x"
    assert app.url_path_for("child:user", name="ann") == "/child/users/ann"
    assert app.url_path_for("child:inner:item", id=3) == "/child/inner/items/3"
    assert app.url_path_for("child", path="/users") == "/child/users"
    with pytest.raises(LookupError, match="no reverse routing"):
        app.url_path_for("legacy:index")
    with pytest.raises(LookupError):
        app.url_path_for("child:nothing")
    with pytest.raises(ValueError, match="takes only path="):
        app.url_path_for("legacy", path="/x", other=1)
    with pytest.raises(ValueError, match="takes parameters"):
        app.url_path_for("child:user")
    with pytest.raises(LookupError):
        app.url_path_for("nothing")


def test_url_path_for_asks_apps_that_know_their_routes():
    class ReversingASGI:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            raise NotImplementedError

        def url_path_for(self, name: str, **params: Any) -> str:
            return f"/{name}/{params['id']}"

    class URLMap:
        def bind(self, server_name: str) -> URLMap:
            assert server_name == "localhost"
            return self

        def build(self, endpoint: str, values: dict[str, Any]) -> str:
            return f"/built/{endpoint}/{values['id']}"

    def wsgi(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise NotImplementedError

    wsgi.url_map = URLMap()  # type: ignore[attr-defined]
    app = App()
    app.mount("/s", ReversingASGI())
    app.mount("/f", wsgi)
    assert app.url_path_for("s:thing", id=1) == "/s/thing/1"
    assert app.url_path_for("f:thing", id=2) == "/f/built/thing/2"


def test_url_path_for_still_finds_routes_and_websocket_routes():
    app = App()
    app.mount("/m", make_mounted("asgi"))

    @app.get("/page")
    def page(request):
        return "page"

    @app.websocket("/socket")
    async def socket(ws):
        pass

    assert app.url_path_for("page") == "/page"
    assert app.url_path_for("socket") == "/socket"


@pytest.mark.parametrize(
    ("prefix", "error"),
    [
        ("legacy", "must start with '/'"),
        ("/users/{id}", "without placeholders"),
        ("/users}", "without placeholders"),
    ],
)
def test_mount_refuses_bad_prefixes(prefix, error):
    with pytest.raises(ValueError, match=error):
        App().mount(prefix, make_mounted("wsgi"))


def test_mount_argument_errors():
    app = App()
    with pytest.raises(ValueError, match="interface must be"):
        app.mount("/x", make_mounted("wsgi"), interface="http")
    with pytest.raises(ValueError, match="cannot be mounted in itself"):
        app.mount("/x", app)
    with pytest.raises(TypeError, match="not a WSGI or ASGI app"):
        app.mount("/x", 42)
    with pytest.raises(TypeError, match="unknown limit"):
        app.mount("/x", make_mounted("wsgi"), max_bodysize=1)
    app.mount("/a", make_mounted("wsgi"))
    with pytest.raises(ValueError, match="already named 'a'"):
        app.mount("/a/", make_mounted("wsgi"))
    with pytest.raises(ValueError, match="already named 'a'"):
        app.mount("/b", make_mounted("wsgi"), name="a")
    with pytest.raises(ValueError, match="duplicate route"):
        app.mount("/a", make_mounted("wsgi"), name="again")
    app.mount("/", make_mounted("wsgi"))
    with pytest.raises(ValueError, match="duplicate route"):
        app.mount("", make_mounted("wsgi"))
    assert sorted(app.mounts) == ["a"]


def test_mount_objects():
    app = App()

    def wsgi(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise NotImplementedError

    child = App()
    mount = app.mount("/w/", wsgi)
    assert isinstance(mount, Mount)
    assert (mount.prefix, mount.name, mount.interface, mount.app) == ("/w", "w", "wsgi", wsgi)
    assert mount.paths == ("/w", "/w/{path:path}")
    assert repr(mount) == f"<Mount /w wsgi {wsgi!r}>"
    root = app.mount("/", child)
    assert (root.prefix, root.name, root.interface, root.paths) == (
        "",
        None,
        "dualweb",
        ("/{path:path}",),
    )
    assert repr(root).startswith("<Mount / dualweb <dualweb.app.App")
    deep = app.mount("/api/v1/", make_mounted("asgi"))
    assert (deep.name, deep.interface) == ("api/v1", "asgi")


def test_interface_detection_and_override(make_client):
    class AsyncCallable:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await send(start())
            await send(body(b"class"))

    def looks_sync(scope: Scope, receive: Receive, send: Send) -> Any:
        # A sync function returning the coroutine: only interface= tells.
        return scope_echo(scope, receive, send)

    assert detect_interface(AsyncCallable()) == "asgi"
    assert detect_interface(scope_echo) == "asgi"
    assert detect_interface(environ_echo) == "wsgi"
    assert detect_interface(validator(environ_echo)) == "wsgi"
    assert detect_interface(looks_sync) == "wsgi"
    app = App()
    app.mount("/c", AsyncCallable())
    app.mount("/s", looks_sync, interface="asgi")
    client = make_client(app)
    assert client.get("/c/").text == "class"
    assert client.get("/s/x").json()["path"] == "/s/x"


# -- lifespan ------------------------------------------------------------------------------


def lifespan_app(name: str, events: list[str], *, fail: bool = False) -> App:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append(f"{name} enter")
        try:
            yield {"name": name}
        finally:
            events.append(f"{name} exit")

    app = App(lifespan=lifespan)

    @app.on_startup
    def started() -> None:
        if fail:
            raise RuntimeError(f"{name} cannot start")
        events.append(f"{name} startup ({app.state.name})")

    @app.on_shutdown
    async def stopped() -> None:
        events.append(f"{name} shutdown")

    @app.get("/state")
    def state(request):
        return request.state.name

    return app


def test_mounted_apps_start_and_stop_with_the_outer_app(make_client):
    events: list[str] = []
    outer = lifespan_app("outer", events)
    first = lifespan_app("first", events)
    nested = lifespan_app("nested", events)
    first.mount("/n", nested)
    second = App()

    @second.on_startup
    def second_up() -> None:
        events.append("second startup")

    outer.mount("/first", first)
    outer.mount("/second", second)
    with make_client(outer) as client:
        assert client.get("/first/state").text == "first"
        assert client.get("/first/n/state").text == "nested"
        assert client.get("/state").text == "outer"
        # Started once, by the outer App: requests did not start them again.
        assert events == [
            "outer enter",
            "outer startup (outer)",
            "first enter",
            "first startup (first)",
            "nested enter",
            "nested startup (nested)",
            "second startup",
        ]
        events.clear()
    assert events == [
        "nested shutdown",
        "nested exit",
        "first shutdown",
        "first exit",
        "outer shutdown",
        "outer exit",
    ]


def test_a_failing_child_startup_stops_the_children_already_started(make_client):
    events: list[str] = []
    outer = lifespan_app("outer", events)
    outer.mount("/good", lifespan_app("good", events))
    outer.mount("/bad", lifespan_app("bad", events, fail=True))
    outer.mount("/never", lifespan_app("never", events))
    with pytest.raises(RuntimeError, match="bad cannot start"), make_client(outer):
        pass
    assert events == [
        "outer enter",
        "outer startup (outer)",
        "good enter",
        "good startup (good)",
        "bad enter",
        "bad exit",
        "good shutdown",
        "good exit",
        "outer exit",
    ]


def test_an_app_mounted_twice_starts_once(make_client):
    events: list[str] = []
    outer = App()
    child = lifespan_app("child", events)
    outer.mount("/one", child)
    outer.mount("/two", child)
    with make_client(outer) as client:
        assert client.get("/one/state").text == client.get("/two/state").text == "child"
        assert events == ["child enter", "child startup (child)"]


# -- WebSockets (ASGI) ---------------------------------------------------------------------


def socket_app() -> App:
    child = App()

    @child.websocket("/ws/{room}")
    async def room(ws, room):
        await ws.accept()
        await ws.send_json({"room": room, "root_path": ws.root_path, "path": ws.path})
        await ws.send_text(await ws.receive_text())
        await ws.close()

    return child


async def raw_socket(scope: Scope, receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    where = {"root_path": scope["root_path"], "path": scope["path"], "type": scope["type"]}
    await send({"type": "websocket.send", "text": json.dumps(where)})
    message = await receive()
    await send({"type": "websocket.send", "text": message["text"]})
    await send({"type": "websocket.close", "code": 1000})


def test_websockets_of_a_mounted_dualweb_app(asgi_client):
    outer = App()
    middle = App()
    middle.mount("/chat", socket_app())
    outer.mount("/v1", middle)
    outer.mount("/chat", socket_app())
    client = asgi_client(outer)
    with client.websocket_connect("/chat/ws/lobby") as ws:
        assert ws.receive_json() == {"room": "lobby", "root_path": "/chat", "path": "/ws/lobby"}
        ws.send_text("hello")
        assert ws.receive_text() == "hello"
    with client.websocket_connect("/v1/chat/ws/deep") as ws:
        assert ws.receive_json() == {"room": "deep", "root_path": "/v1/chat", "path": "/ws/deep"}
        ws.send_text("again")
        assert ws.receive_text() == "again"
    with pytest.raises(WebSocketRejected) as rejected:
        client.websocket_connect("/chat/nothing")
    assert rejected.value.status == 404


def test_outer_websocket_routes_win_over_a_mount(asgi_client):
    app = App()
    app.mount("/chat", socket_app())

    @app.websocket("/chat/ws/outer")
    async def outer(ws):
        await ws.accept()
        await ws.send_text("outer")
        await ws.close()

    client = asgi_client(app)
    with client.websocket_connect("/chat/ws/outer") as ws:
        assert ws.receive_text() == "outer"
    with client.websocket_connect("/chat/ws/inner") as ws:
        assert ws.receive_json()["room"] == "inner"
        ws.send_text("bye")
        assert ws.receive_text() == "bye"


def test_websockets_of_a_mounted_asgi_app(asgi_client):
    app = App()
    app.mount("/raw", raw_socket)
    app.mount("/", raw_socket, name="root")
    client = asgi_client(app)
    with client.websocket_connect("/raw/socket") as ws:
        assert json.loads(ws.receive_text()) == {
            "root_path": "/raw",
            "path": "/raw/socket",
            "type": "websocket",
        }
        ws.send_text("echo")
        assert ws.receive_text() == "echo"
    with client.websocket_connect("/elsewhere") as ws:
        assert json.loads(ws.receive_text())["path"] == "/elsewhere"
        ws.send_text("echo")
        assert ws.receive_text() == "echo"


def test_no_websockets_to_a_mounted_wsgi_app(asgi_client):
    app = App()
    app.mount("/w", make_mounted("wsgi"))
    with pytest.raises(WebSocketRejected) as rejected:
        asgi_client(app).websocket_connect("/w/socket")
    assert rejected.value.status == 404


def test_websocket_paths_of_a_mounted_app_over_http(make_client, interface):
    app = App()
    app.mount("/chat", socket_app())
    response = make_client(app).get("/chat/ws/lobby")
    assert response.status_code == 426
    if interface == "wsgi":
        assert "ASGI server" in response.text
    else:
        assert response.headers["upgrade"] == "websocket"


# -- WSGIInput without the client ------------------------------------------------------------


class _FakeRequest:
    def __init__(self, chunks: list[bytes], error: HTTPException | None = None) -> None:
        self.chunks = chunks
        self.error = error

    def stream(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error


def test_wsgi_body_is_closed_once():
    streamed = ClosingBody([b"a", b"b"])
    environ = {"REQUEST_METHOD": "GET"}
    request = _FakeRequest([])
    response = call_wsgi_app(closing_app(streamed), environ, WSGIInput(request), False)  # type: ignore[arg-type]
    assert response.stream is not None
    response.stream.close()  # type: ignore[union-attr]
    response.stream.close()  # type: ignore[union-attr]
    assert streamed.closed == 1


def test_wsgi_input_across_chunks():
    stream = WSGIInput(_FakeRequest([b"ab", b"c\nde", b"", b"f\n", b"g"]))  # type: ignore[arg-type]
    assert stream.readline(2) == b"ab"
    assert stream.readline() == b"c\n"
    assert stream.read(3) == b"def"
    assert stream.readlines() == [b"\n", b"g"]
    assert stream.read() == b""
    assert stream.readline() == b""
    assert stream.error is None


def test_wsgi_input_ends_at_an_error():
    error = HTTPException(413)
    stream = WSGIInput(_FakeRequest([b"abc"], error))  # type: ignore[arg-type]
    assert stream.read() == b"abc"
    assert stream.error is error
    assert stream.read(1) == b""


def test_an_app_with_websockets_mounted_as_wsgi_is_refused_at_mount_time(make_client):
    inner = App()

    @inner.websocket("/chat")
    async def chat(socket):
        await socket.accept()

    @inner.get("/page")
    def page(request):
        return "page"

    outer = App()
    with pytest.raises(ValueError, match=r"'/inner' with interface='wsgi'.*\(/chat\)"):
        outer.mount("/inner", inner, interface="wsgi")
    # Refused before anything was registered: the prefix is still free.
    assert make_client(outer).get("/inner/page").status_code == 404
    # Without interface= the same App mounts, sockets and all.
    outer.mount("/inner", inner)
    assert make_client(outer).get("/inner/page").text == "page"


def test_a_websocket_route_added_after_a_wsgi_mount_is_refused(make_client):
    inner = App()

    @inner.get("/page")
    def page(request):
        return "page"

    outer = App()
    outer.mount("/inner", inner, interface="wsgi")

    async def chat(socket):
        await socket.accept()

    with pytest.raises(ValueError, match=r"'/chat'.*interface='wsgi' at '/inner'"):
        inner.add_websocket_route("/chat", chat)
    assert inner.websocket_router.routes == []
    # The HTTP side goes on, and so do HTTP routes added later.
    inner.add_route("/later", page)
    client = make_client(outer)
    assert client.get("/inner/page").text == "page"
    assert client.get("/inner/later").text == "page"
    # An App mounted without interface= keeps taking WebSocket routes.
    other = App()
    outer.mount("/other", other)
    other.add_websocket_route("/chat", chat)
    assert [route.path for route in other.websocket_router.routes] == ["/chat"]
