"""The middleware model: hooks around the handler, the same under WSGI and ASGI."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from typing import Any

import pytest

from dualweb import App, HTTPException, PlainTextResponse, Response
from dualweb.middleware import Middleware
from dualweb.testing import TestClient


class Recorder(Middleware):
    """Writes its name into a per-request trace on the way in and out."""

    inline = True

    def __init__(self, name: str) -> None:
        self.name = name

    def before_request(self, request):
        request.state.__dict__.setdefault("trace", []).append(f"{self.name}>")

    def after_request(self, request, response):
        trace = request.state.__dict__.setdefault("trace", [])
        trace.append(f"<{self.name}")
        response.headers["X-Trace"] = " ".join(trace)


def traced_app(*names: str) -> App:
    app = App()
    for name in names:
        app.add_middleware(Recorder(name))

    @app.get("/")
    def index(request):
        request.state.trace.append("handler")
        return "ok"

    return app


def test_hooks_nest_like_an_onion(make_client):
    client = make_client(traced_app("a", "b", "c"))
    response = client.get("/")
    assert response.text == "ok"
    assert response.headers["x-trace"] == "a> b> c> handler <c <b <a"


def test_before_request_answers_and_skips_the_inner_layers(make_client):
    class Gate(Middleware):
        inline = True

        def before_request(self, request):
            if request.headers.get("x-token") != "secret":
                return PlainTextResponse("no entry", 403)
            return None

    app = App()
    app.add_middleware(Recorder("outer"))
    app.add_middleware(Gate())
    app.add_middleware(Recorder("inner"))
    handled = []

    @app.get("/")
    def index(request):
        handled.append(True)
        return "ok"

    client = make_client(app)
    response = client.get("/")
    assert (response.status_code, response.text) == (403, "no entry")
    # The outer layer saw the answer; the inner one and the handler never ran.
    assert response.headers["x-trace"] == "outer> <outer"
    assert handled == []
    response = client.get("/", headers={"X-Token": "secret"})
    assert response.text == "ok"
    assert response.headers["x-trace"] == "outer> inner> <inner <outer"


def test_before_request_return_values_are_converted_like_a_handlers(make_client):
    app = App()

    @app.before_request
    def answer(request):
        if request.path == "/dict":
            return {"from": "hook"}
        if request.path == "/tuple":
            return "created", 201
        return None

    app.add_route("/dict", lambda request: "handler")
    app.add_route("/tuple", lambda request: "handler")
    client = make_client(app)
    assert client.get("/dict").json() == {"from": "hook"}
    response = client.get("/tuple")
    assert (response.status_code, response.text) == (201, "created")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/missing", 404), ("POST", "/", 405), ("GET", "/boom", 500)],
)
def test_after_hooks_see_error_responses(make_client, method, path, status):
    app = traced_app("a", "b")

    @app.get("/boom")
    def boom(request):
        raise RuntimeError("boom")

    response = make_client(app).request(method, path)
    assert response.status_code == status
    assert response.headers["x-trace"] == "a> b> <b <a"


def test_after_hooks_see_error_handler_responses(make_client):
    app = traced_app("a")

    @app.errorhandler(ValueError)
    def bad_value(request, exc):
        return {"error": str(exc)}, 422

    @app.errorhandler(404)
    async def not_found(request, exc):
        return PlainTextResponse("nothing here", 404)

    @app.get("/bad")
    def bad(request):
        raise ValueError("no good")

    client = make_client(app)
    response = client.get("/bad")
    assert (response.status_code, response.json()) == (422, {"error": "no good"})
    assert response.headers["x-trace"] == "a> <a"
    response = client.get("/nowhere")
    assert (response.status_code, response.text) == (404, "nothing here")
    assert response.headers["x-trace"] == "a> <a"


def test_after_hooks_see_automatic_options_and_slash_redirects(make_client):
    app = traced_app("a")
    app.add_route("/items/", lambda request: "items", ["GET", "POST"])
    client = make_client(app)
    response = client.options("/items/")
    assert (response.status_code, response.headers["allow"]) == (204, "GET, HEAD, OPTIONS, POST")
    assert response.headers["x-trace"] == "a> <a"
    response = client.get("/items")
    assert response.status_code == 308
    assert response.headers["x-trace"] == "a> <a"


def test_exception_in_before_hook_goes_to_error_handling(make_client, caplog):
    app = App()
    app.add_middleware(Recorder("outer"))

    @app.before_request
    def refuse(request):
        if request.path == "/http":
            raise HTTPException(401, "log in first")
        if request.path == "/crash":
            raise RuntimeError("hook crashed")

    app.add_middleware(Recorder("inner"))

    @app.errorhandler(KeyError)
    def missing_key(request, exc):
        return "handled KeyError", 400

    @app.before_request
    async def key_error(request):
        if request.path == "/key":
            raise KeyError("k")

    app.add_route("/{name}", lambda request, name: "handler")
    client = make_client(app)
    response = client.get("/http")
    assert (response.status_code, response.text) == (401, "log in first")
    # The failing layer is not entered: only the layers around it unwind.
    assert response.headers["x-trace"] == "outer> <outer"
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        response = client.get("/crash")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert "hook crashed" in caplog.text
    response = client.get("/key")
    assert (response.status_code, response.text) == (400, "handled KeyError")
    assert response.headers["x-trace"] == "outer> inner> <inner <outer"


def test_exception_in_after_hook_becomes_the_response_outer_hooks_see(make_client, caplog):
    app = App()
    app.add_middleware(Recorder("outer"))

    @app.after_request
    def crash(request, response):
        if request.path == "/crash":
            raise RuntimeError("after hook crashed")
        if request.path == "/http":
            raise HTTPException(409, "conflict after all")

    app.add_route("/{name}", lambda request, name: "handler")
    client = make_client(app)
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        response = client.get("/crash")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert response.headers["x-trace"] == "outer> <outer"
    assert "after hook crashed" in caplog.text
    response = client.get("/http")
    assert (response.status_code, response.text) == (409, "conflict after all")
    assert response.headers["x-trace"] == "outer> <outer"


def test_after_hook_may_replace_the_response(make_client):
    app = App()

    @app.after_request
    def replace(request, response):
        if response.status_code == 404:
            return {"error": "not found", "path": request.path}, 404
        return None

    app.add_route("/", lambda request: "home")
    client = make_client(app)
    assert client.get("/").text == "home"
    response = client.get("/nope")
    assert (response.status_code, response.json()) == (
        404,
        {"error": "not found", "path": "/nope"},
    )


def test_function_hooks_sync_and_async(make_client):
    app = App()
    calls: list[str] = []

    @app.before_request
    def sync_before(request):
        calls.append("sync before")

    @app.before_request
    async def async_before(request):
        await asyncio.sleep(0)
        calls.append("async before")

    @app.after_request
    def sync_after(request, response):
        calls.append("sync after")
        response.headers["X-Sync"] = "1"

    @app.after_request
    async def async_after(request, response):
        await asyncio.sleep(0)
        calls.append("async after")
        response.headers["X-Async"] = "1"

    # The decorators give the functions back unchanged.
    assert sync_before.__name__ == "sync_before"

    app.add_route("/", lambda request: calls.append("handler") or "ok")
    response = make_client(app).get("/")
    assert response.text == "ok"
    assert (response.headers["x-sync"], response.headers["x-async"]) == ("1", "1")
    # Registered as four layers: after hooks unwind in reverse.
    assert calls == ["sync before", "async before", "handler", "async after", "sync after"]


class ThreadSpy(Middleware):
    """Notes which thread each hook ran on; async hooks note the running loop."""

    def __init__(self, inline: bool | None = None) -> None:
        if inline is not None:
            self.inline = inline
        self.threads: list[str] = []

    def before_request(self, request):
        self.threads.append(threading.current_thread().name)

    def after_request(self, request, response):
        self.threads.append(threading.current_thread().name)


class AsyncSpy(Middleware):
    async def before_request(self, request):
        await asyncio.sleep(0)
        request.state.loop = asyncio.get_running_loop()

    async def after_request(self, request, response):
        await asyncio.sleep(0)
        assert asyncio.get_running_loop() is request.state.loop
        response.headers["X-Async-Hooks"] = "ran"


def test_sync_hooks_run_in_the_pool_under_asgi_unless_inline(make_client, interface):
    pooled, inline = ThreadSpy(), ThreadSpy(inline=True)
    app = App()
    app.add_middleware(pooled)
    app.add_middleware(inline)
    app.add_route("/", lambda request: "ok")
    assert make_client(app).get("/").text == "ok"
    caller = threading.current_thread().name
    if interface == "asgi":
        assert all(name.startswith("dualweb-sync") for name in pooled.threads)
        assert not any(name.startswith("dualweb-sync") for name in inline.threads)
    else:
        # WSGI calls sync hooks on the worker thread (here: the test's).
        assert pooled.threads == inline.threads == [caller, caller]


def test_app_inline_sync_applies_to_middleware_that_does_not_say(make_client):
    spy = ThreadSpy()
    app = App(inline_sync=True)
    app.add_middleware(spy)
    app.add_route("/", lambda request: "ok")
    assert make_client(app).get("/").text == "ok"
    assert len(spy.threads) == 2
    assert not any(name.startswith("dualweb-sync") for name in spy.threads)


@pytest.mark.parametrize("handler_is_async", [False, True])
def test_async_middleware_around_sync_and_async_handlers(make_client, handler_is_async):
    app = App()
    app.add_middleware(AsyncSpy())
    app.add_middleware(Recorder("sync"))
    if handler_is_async:

        async def handler(request):
            return "async handler"
    else:

        def handler(request):
            return "sync handler"

    app.add_route("/", handler)
    response = make_client(app).get("/")
    assert response.text == ("async handler" if handler_is_async else "sync handler")
    assert response.headers["x-async-hooks"] == "ran"
    assert response.headers["x-trace"] == "sync> <sync"


def test_blocking_sync_hook_runs_off_the_loop(make_client):
    # Under ASGI, blockbuster fails the test if this sleep runs on the loop.
    import time

    class Slow(Middleware):
        def before_request(self, request):
            time.sleep(0.001)

    app = App()
    app.add_middleware(Slow())
    app.add_route("/", lambda request: "ok")
    assert make_client(app).get("/").text == "ok"


def test_state_set_before_reaches_the_handler_and_after(make_client):
    class User(Middleware):
        inline = True

        async def before_request(self, request):
            request.state.user = request.headers.get("x-user", "anonymous")

        def after_request(self, request, response):
            response.headers["X-User"] = request.state.user

    app = App()
    app.add_middleware(User())
    app.add_route("/", lambda request: f"hello {request.state.user}")
    response = make_client(app).get("/", headers={"X-User": "ada"})
    assert (response.text, response.headers["x-user"]) == ("hello ada", "ada")


def test_hooks_run_for_head_requests(make_client):
    app = traced_app("a")
    response = make_client(app).head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-trace"] == "a> handler <a"


def test_add_middleware_wants_a_dualweb_middleware():
    app = App()

    def asgi_middleware(scope, receive, send):
        raise AssertionError

    with pytest.raises(TypeError, match="expected a dualweb Middleware, not function"):
        app.add_middleware(asgi_middleware)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not type"):
        app.add_middleware(Middleware)  # type: ignore[arg-type]
    assert app._stages == []


def test_middleware_without_overrides_changes_nothing(make_client):
    app = App()
    app.add_middleware(Middleware())
    app.add_route("/", lambda request: "ok")
    # No hook was overridden, so the layer has nothing to call.
    assert app._stages[0].before is None
    assert app._stages[0].after is None
    response = make_client(app).get("/")
    assert response.text == "ok"


def test_base_hooks_do_nothing():
    assert Middleware().before_request(None) is None  # type: ignore[arg-type]
    assert Middleware().after_request(None, None) is None  # type: ignore[arg-type]


def test_async_middleware_hook_makes_wsgi_use_a_loop(make_client):
    app = App()
    app.add_route("/", lambda request: "ok")
    assert not app._needs_loop(None)
    app.add_middleware(AsyncSpy())
    assert app._needs_loop(None)
    response = make_client(app).get("/")
    assert response.headers["x-async-hooks"] == "ran"


# -- ordinary WSGI and ASGI middleware around app.wsgi / app.asgi ---------------------


def add_header_wsgi(wsgi_app: Any) -> Any:
    """A hand-written WSGI middleware: adds a header to every response."""

    def middleware(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("X-Wrapped", "wsgi")], exc_info)

        return wsgi_app(environ, start)

    return middleware


def add_header_asgi(asgi_app: Any) -> Any:
    """A hand-written ASGI middleware: adds a header to every HTTP response."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def send_wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-wrapped", b"asgi")]}
            await send(message)

        await asgi_app(scope, receive, send_wrapped)

    return middleware


def plain_app() -> App:
    app = App()
    app.add_middleware(Recorder("inner"))

    @app.get("/")
    def index(request):
        return "ok"

    @app.get("/stream")
    def stream(request):
        from dualweb import StreamingResponse

        return StreamingResponse(iter(["a", "b"]), media_type="text/plain")

    return app


def test_wsgi_middleware_around_app_wsgi():
    from wsgiref.validate import validator

    app = plain_app()
    with TestClient(add_header_wsgi(app.wsgi), "wsgi", wrap_wsgi=validator) as client:
        response = client.get("/")
        assert response.text == "ok"
        assert response.headers["x-wrapped"] == "wsgi"
        assert response.headers["x-trace"] == "inner> <inner"
        assert client.get("/stream").text == "ab"
        assert client.get("/missing").headers["x-wrapped"] == "wsgi"


def test_asgi_middleware_around_app_asgi():
    app = plain_app()
    with TestClient(add_header_asgi(app.asgi), "asgi") as client:
        response = client.get("/")
        assert response.text == "ok"
        assert response.headers["x-wrapped"] == "asgi"
        assert response.headers["x-trace"] == "inner> <inner"
        assert client.get("/stream").text == "ab"
        assert client.get("/missing").headers["x-wrapped"] == "asgi"


def test_response_returned_by_before_hook_is_a_response_object(make_client):
    # A hook may return any Response subclass, headers and all.
    app = App()

    @app.before_request
    def maintenance(request):
        return Response("down", 503, {"Retry-After": "60"}, media_type="text/plain")

    app.add_route("/", lambda request: "up")
    response = make_client(app).get("/")
    assert (response.status_code, response.text) == (503, "down")
    assert response.headers["retry-after"] == "60"
