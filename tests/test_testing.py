"""The TestClient itself, the ASGI lifespan/websocket stubs and the test guards."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from dualweb import App
from dualweb.testing import TestClient


def test_blocking_call_on_the_loop_fails_asgi_tests(make_client, interface):
    app = App()

    @app.get("/blocks")
    async def blocks(request):
        time.sleep(0.001)
        return "slept on the loop"

    make_client.allow_blocking = True  # this test provokes it on purpose
    response = make_client(app).get("/blocks")
    if interface == "asgi":
        # blockbuster raised inside the handler: the app answered 500.
        assert response.status_code == 500
    else:
        assert response.text == "slept on the loop"


def test_unknown_interface_is_refused():
    with pytest.raises(ValueError, match="interface must be"):
        TestClient(App(), "cgi")  # type: ignore[arg-type]


def test_cookies_persist_across_requests(make_client):
    app = App()

    @app.get("/login")
    def login(request):
        from dualweb import PlainTextResponse

        response = PlainTextResponse("in")
        response.set_cookie("session", "s1")
        return response

    @app.get("/me")
    def me(request):
        return request.cookies.get("session", "anonymous")

    client = make_client(app)
    assert client.get("/me").text == "anonymous"
    client.get("/login")
    assert client.get("/me").text == "s1"


def test_exception_escaping_the_asgi_app_reaches_the_test():
    async def broken(scope, receive, send):
        raise RuntimeError("escaped")

    with TestClient(broken, "asgi") as client, pytest.raises(RuntimeError, match="escaped"):
        client.get("/")


def test_exception_escaping_the_wsgi_app_reaches_the_test():
    def broken(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        raise RuntimeError("mid-stream")

    # After the headers, a server drops the connection: the client sees a
    # truncated body, and the app's error is the cause.
    with TestClient(broken, "wsgi") as client, pytest.raises(httpx.RemoteProtocolError) as caught:
        client.get("/")
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert str(caught.value.__cause__) == "mid-stream"

    def fails_before_first_chunk(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise RuntimeError("first chunk")
        yield b""  # pragma: no cover

    client = TestClient(fails_before_first_chunk, "wsgi")
    with client, client.stream("GET", "/") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            response.read()
    assert str(caught.value.__cause__) == "first chunk"

    def broken_early(environ, start_response):
        raise RuntimeError("early")

    with TestClient(broken_early, "wsgi") as client, pytest.raises(RuntimeError, match="early"):
        client.get("/")


def test_asgi_app_returning_before_the_end_of_the_body_is_a_truncated_response():
    async def incomplete(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})

    with TestClient(incomplete, "asgi") as client, client.stream("GET", "/") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()


def test_stream_closed_early_disconnects_the_asgi_app():
    app = App()

    async def forever():
        while True:
            yield b"tick\n"
            await asyncio.sleep(0.001)

    @app.get("/ticks")
    async def ticks(request):
        from dualweb import StreamingResponse

        return StreamingResponse(forever(), media_type="text/plain")

    with TestClient(app, "asgi") as client, client.stream("GET", "/ticks") as response:
        first = next(response.iter_raw())
        assert first.startswith(b"tick")


def test_lifespan_and_websocket_scopes():
    app = App()
    sent: list[dict] = []

    async def run() -> None:
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive():
            return next(messages)

        async def send(message):
            sent.append(message)

        await app({"type": "lifespan"}, receive, send)
        await app({"type": "websocket", "path": "/"}, receive, send)
        with pytest.raises(ValueError, match="unknown ASGI scope"):
            await app({"type": "other"}, receive, send)

    asyncio.run(run())
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
        "websocket.close",
    ]


def test_client_disconnect_while_reading_the_body_under_asgi():
    app = App()
    seen: list[int] = []

    @app.post("/upload")
    async def upload(request):
        await request.abody()
        return "never"

    async def run() -> None:
        messages = iter(
            [
                {"type": "http.request", "body": b"part", "more_body": True},
                {"type": "http.disconnect"},
            ]
        )

        async def receive():
            return next(messages)

        async def send(message):
            if message["type"] == "http.response.start":
                seen.append(message["status"])

        await app(
            {"type": "http", "method": "POST", "path": "/upload", "headers": []}, receive, send
        )

    asyncio.run(run())
    assert seen == [400]


def test_truncated_wsgi_body_is_a_client_disconnect():
    import io

    app = App()

    @app.post("/upload")
    def upload(request):
        return request.body()

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/upload",
        "CONTENT_LENGTH": "10",
        "wsgi.input": io.BytesIO(b"short"),
    }
    statuses: list[str] = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses == ["400 Bad Request"]
    assert body == b"Client disconnected"


def test_app_exposes_both_callables():
    app = App()
    assert callable(app.wsgi)
    assert asyncio.iscoroutinefunction(app.asgi.__call__)
    # uvicorn's interface detection looks at __call__.
    assert asyncio.iscoroutinefunction(app.__call__)


def test_latin_1_response_headers_reach_the_test(make_client):
    app = App()

    @app.get("/")
    def index(request):
        return "ok", 200, {"X-Name": "café"}

    response = make_client(app).get("/")
    # On the wire the value is latin-1 bytes, under both interfaces.
    assert (b"x-name", b"caf\xe9") in response.headers.raw
