"""Streaming bodies and server-sent events, under both interfaces.

What the real servers do with a disconnect or a failing body is checked in
``test_servers.py``; here the ASGI side is also driven by hand, so that a
disconnect can be sent at a chosen moment.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from rawasgi import http_scope

from dualweb import App, StreamingResponse
from dualweb.sse import EventSourceResponse, ServerSentEvent, encode_event

# -- errors after the headers ------------------------------------------------------------


def failing_app() -> App:
    app = App()

    def sync_chunks() -> Iterator[bytes]:
        yield b"first\n"
        raise RuntimeError("the database went away")

    async def async_chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        raise RuntimeError("the database went away")

    @app.get("/sync")
    def sync(request):
        return StreamingResponse(sync_chunks(), media_type="text/plain")

    @app.get("/async")
    def async_(request):
        return StreamingResponse(async_chunks(), media_type="text/plain")

    @app.get("/")
    def index(request):
        return "still serving"

    return app


@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_error_in_body_after_headers_truncates_and_is_logged(
    make_client, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(failing_app())
    with caplog.at_level(logging.ERROR, logger="dualweb"), client.stream("GET", path) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    records = [r for r in caplog.records if r.name == "dualweb"]
    assert [r.getMessage() for r in records] == [f"Exception in the streamed body of GET {path}"]
    assert records[0].exc_info is not None
    assert str(records[0].exc_info[1]) == "the database went away"
    # The app goes on serving.
    assert client.get("/").text == "still serving"


# -- server-sent events: the format --------------------------------------------------------


def test_event_fields_and_multi_line_data() -> None:
    event = ServerSentEvent("line one\nline two\r\nline three", event="update", id="7", retry=2500)
    assert event.encode() == (
        b"event: update\nid: 7\nretry: 2500\ndata: line one\ndata: line two\ndata: line three\n\n"
    )
    assert ServerSentEvent("").encode() == b"data: \n\n"
    assert ServerSentEvent(comment="a\nb").encode() == b": a\n: b\n\n"
    assert encode_event("plain") == b"data: plain\n\n"
    assert encode_event({"data": "x", "event": "e"}) == b"event: e\ndata: x\n\n"
    assert "update" in repr(event)


@pytest.mark.parametrize(
    "kwargs",
    [{"event": "a\nb"}, {"id": "1\r2"}, {"id": "a\0b"}, {"retry": -1}, {"retry": 1.5}],
)
def test_invalid_event_fields_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"the (event|id) field|retry must be"):
        ServerSentEvent("data", **kwargs)


def test_an_event_stream_cannot_send_other_objects() -> None:
    with pytest.raises(TypeError, match="cannot send 'int'"):
        encode_event(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("ping", [0, -1.0, float("nan")])
def test_ping_must_be_positive(ping: float) -> None:
    with pytest.raises(ValueError, match="ping"):
        EventSourceResponse([], ping=ping)


def sse_app(ping: float | None) -> App:
    app = App()

    def sync_events() -> Iterator[Any]:
        yield ServerSentEvent("hello", event="greeting", id="1")
        yield {"data": "two\nlines", "id": "2"}
        yield "three"

    async def async_events() -> AsyncIterator[Any]:
        for item in sync_events():
            await asyncio.sleep(0)
            yield item

    @app.get("/sync")
    def sync(request):
        return EventSourceResponse(sync_events(), ping=ping)

    @app.get("/async")
    async def async_(request):
        return EventSourceResponse(async_events(), ping=ping)

    return app


EXPECTED_EVENTS = (
    b"event: greeting\nid: 1\ndata: hello\n\nid: 2\ndata: two\ndata: lines\n\ndata: three\n\n"
)


@pytest.mark.parametrize("ping", [None, 15.0])
@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_event_stream_from_sync_or_async_source(make_client, path: str, ping) -> None:
    response = make_client(sse_app(ping)).get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    assert response.content == EXPECTED_EVENTS


def test_own_cache_control_is_kept() -> None:
    response = EventSourceResponse([], headers={"Cache-Control": "no-cache"})
    assert response.headers.getlist("cache-control") == ["no-cache"]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_idle_stream_sends_keep_alive_comments(make_client, kind: str) -> None:
    app = App()

    def slow_sync() -> Iterator[str]:
        yield "first"
        # Blocking is fine here: a sync source steps in a thread of its own.
        time.sleep(0.35)
        yield "second"

    async def slow_async() -> AsyncIterator[str]:
        yield "first"
        await asyncio.sleep(0.35)
        yield "second"

    @app.get("/events")
    def events(request):
        return EventSourceResponse(slow_sync() if kind == "sync" else slow_async(), ping=0.1)

    body = make_client(app).get("/events").content
    assert body.startswith(b"data: first\n\n: ping\n\n")
    assert body.endswith(b": ping\n\ndata: second\n\n")
    assert 2 <= body.count(b": ping\n\n") <= 4


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_error_in_event_source_truncates_the_stream(make_client, kind: str) -> None:
    app = App()

    def broken_sync() -> Iterator[str]:
        yield "one"
        raise LookupError("no more events")

    async def broken_async() -> AsyncIterator[str]:
        yield "one"
        raise LookupError("no more events")

    @app.get("/events")
    def events(request):
        return EventSourceResponse(broken_sync() if kind == "sync" else broken_async())

    client = make_client(app)
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        client.get("/events")
    assert isinstance(caught.value.__cause__, LookupError) or caught.value.__cause__ is None


# -- ASGI: a disconnect stops the body -------------------------------------------------------


class Conversation:
    """Drives one ASGI HTTP request by hand: the body, then a disconnect on demand."""

    def __init__(self, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None):
        self.body = body
        self.headers = headers or []
        self.sent: list[dict[str, Any]] = []
        self.body_sent = False
        self.disconnect = asyncio.Event()
        self.chunk_arrived = asyncio.Event()

    def scope(self, path: str) -> dict[str, Any]:
        return http_scope(path, headers=self.headers)

    async def receive(self) -> dict[str, Any]:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            self.chunk_arrived.set()


def endless_app(closed: list[str]) -> App:
    app = App()

    async def endless_async() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.01)
        finally:
            closed.append("async")

    def endless_sync() -> Iterator[bytes]:
        try:
            while True:
                yield b"tick\n"
                time.sleep(0.01)
        finally:
            closed.append("sync")

    async def quiet_events() -> AsyncIterator[str]:
        try:
            yield "hello"
            await asyncio.Event().wait()  # no more events, ever
        finally:
            closed.append("events")

    @app.get("/async")
    async def async_(request):
        return StreamingResponse(endless_async(), media_type="text/plain")

    @app.get("/sync")
    def sync(request):
        return StreamingResponse(endless_sync(), media_type="text/plain")

    @app.get("/events")
    async def events(request):
        return EventSourceResponse(quiet_events(), ping=None)

    async def pinged_events() -> AsyncIterator[str]:
        try:
            yield "hello"
            await asyncio.Event().wait()
        finally:
            closed.append("pinged events")

    def sync_events() -> Iterator[str]:
        try:
            while True:
                yield "tick"
                time.sleep(0.01)
        finally:
            closed.append("sync events")

    @app.get("/pinged-events")
    async def pinged(request):
        return EventSourceResponse(pinged_events(), ping=10)

    @app.get("/sync-events")
    def sync_event_route(request):
        return EventSourceResponse(sync_events())

    @app.post("/read-then-stream")
    async def read_then_stream(request):
        await request.abody()
        return StreamingResponse(endless_async(), media_type="text/plain")

    return app


async def run_until_disconnect(app: App, conversation: Conversation, path: str) -> None:
    task = asyncio.ensure_future(
        app.asgi(conversation.scope(path), conversation.receive, conversation.send)
    )
    await asyncio.wait_for(conversation.chunk_arrived.wait(), 5)
    conversation.disconnect.set()
    # The app returns by itself: nobody cancels it.
    await asyncio.wait_for(task, 5)


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/async", "async"),
        ("/sync", "sync"),
        ("/events", "events"),
        ("/pinged-events", "pinged events"),
        ("/sync-events", "sync events"),
    ],
)
def test_disconnect_stops_the_streamed_body(path: str, what: str) -> None:
    closed: list[str] = []
    conversation = Conversation()
    asyncio.run(run_until_disconnect(endless_app(closed), conversation, path))
    assert closed == [what]
    # No final empty message: nobody is there to receive it.
    assert conversation.sent[-1].get("more_body") is True


def test_send_raising_oserror_ends_the_stream_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """ASGI 2.4 servers raise OSError from send() once the client is gone."""

    class GoneAfterFirstChunk(Conversation):
        async def send(self, message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and self.chunk_arrived.is_set():
                raise OSError("client disconnected")
            await super().send(message)

    closed: list[str] = []
    conversation = GoneAfterFirstChunk()
    app = endless_app(closed)
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        asyncio.run(
            app.asgi(conversation.scope("/async"), conversation.receive, conversation.send)
        )
    assert closed == ["async"]
    assert [r for r in caplog.records if r.name == "dualweb"] == []


def test_disconnect_is_watched_once_the_body_was_read() -> None:
    closed: list[str] = []
    conversation = Conversation(b"payload", [(b"content-length", b"7")])
    conversation_scope = conversation.scope

    def post_scope(path: str) -> dict[str, Any]:
        return {**conversation_scope(path), "method": "POST"}

    conversation.scope = post_scope  # type: ignore[method-assign]
    asyncio.run(run_until_disconnect(endless_app(closed), conversation, "/read-then-stream"))
    assert closed == ["async"]


def test_unread_body_is_left_for_the_streamed_response(make_client) -> None:
    """A response may stream the request body itself: nothing else may read it."""
    app = App(max_body_size=None)

    @app.post("/echo")
    async def echo(request):
        return StreamingResponse(request.astream(), media_type="application/octet-stream")

    payload = bytes(range(256)) * 1000
    response = make_client(app).post("/echo", content=payload)
    assert response.status_code == 200
    assert response.content == payload


def test_sync_body_is_closed_after_its_running_step() -> None:
    """A disconnect while a sync generator is inside next(): closed once it returns."""
    closed: list[str] = []
    inside = threading.Event()
    release = threading.Event()
    app = App()

    def slow() -> Iterator[bytes]:
        try:
            yield b"first"
            inside.set()
            release.wait(5)
            yield b"second"
        finally:
            closed.append("slow")

    @app.get("/slow")
    def slow_route(request):
        return StreamingResponse(slow(), media_type="text/plain")

    async def scenario() -> None:
        conversation = Conversation()
        task = asyncio.ensure_future(
            app.asgi(conversation.scope("/slow"), conversation.receive, conversation.send)
        )
        await asyncio.wait_for(conversation.chunk_arrived.wait(), 5)
        await asyncio.get_running_loop().run_in_executor(None, inside.wait, 5)
        conversation.disconnect.set()
        await asyncio.sleep(0.05)
        assert closed == []  # still inside next(): it cannot be closed yet
        release.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert closed == ["slow"]


def test_none_sends_nothing_and_pings_still_go_out(make_client) -> None:
    app = App()

    def waiting() -> Iterator[str | None]:
        yield "first"
        for _ in range(8):
            time.sleep(0.05)
            yield None  # nothing new: the stream may stop here if the client left
        yield "second"

    @app.get("/events")
    def events(request):
        return EventSourceResponse(waiting(), ping=0.1)

    @app.get("/unpinged")
    def unpinged(request):
        return EventSourceResponse(waiting(), ping=None)

    client = make_client(app)
    body = client.get("/events").content
    assert body.startswith(b"data: first\n\n: ping\n\n")
    assert body.endswith(b"data: second\n\n")
    assert 2 <= body.count(b": ping\n\n") <= 5
    assert client.get("/unpinged").content == b"data: first\n\ndata: second\n\n"


# -- bodies that are never sent are still closed ----------------------------------------------


def closing_app(closed: list[str]) -> App:
    app = App()

    # Bodies with close()/aclose(), as PEP 3333 bodies and async iterators
    # that hold resources have. (A generator that never started holds none:
    # closing it runs no code at all.)
    class Tracked:
        def __init__(self, name: str) -> None:
            self.name = name

        def __iter__(self) -> Iterator[bytes]:
            return iter([b"body"])

        def close(self) -> None:
            closed.append(self.name)

    class AsyncTracked:
        def __aiter__(self) -> AsyncIterator[bytes]:
            return self

        async def __anext__(self) -> bytes:
            raise StopAsyncIteration

        async def aclose(self) -> None:
            closed.append("async-tracked")

    @app.get("/async-tracked")
    def async_tracked(request):
        return StreamingResponse(AsyncTracked(), media_type="text/plain")

    @app.get("/tracked")
    def tracked(request):
        return StreamingResponse(Tracked("tracked"), media_type="text/plain")

    @app.get("/replaced")
    def replaced(request):
        return StreamingResponse(Tracked("replaced"), media_type="text/plain")

    @app.after_request
    def replace(request, response):
        if request.path == "/replaced":
            return "replacement"
        return None

    return app


@pytest.mark.parametrize("path", ["/async-tracked", "/tracked"])
def test_head_closes_the_body_without_sending_it(make_client, path: str) -> None:
    closed: list[str] = []
    response = make_client(closing_app(closed)).head(path)
    assert response.status_code == 200
    assert response.content == b""
    assert closed == [path.strip("/")]


def test_a_replaced_body_is_closed(make_client) -> None:
    closed: list[str] = []
    response = make_client(closing_app(closed)).get("/replaced")
    assert response.text == "replacement"
    assert closed == ["replaced"]


def test_wsgi_close_without_iterating_still_ends_the_request() -> None:
    """PEP 3333 lets a server call close() without iterating (client gone early)."""
    from wsgiref.util import setup_testing_defaults

    events: list[str] = []

    class Tracked:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"x"])

        def close(self) -> None:
            events.append("stream closed")

    class Resource:
        def close(self) -> None:
            events.append("request released")

    app = App()

    @app.get("/")
    def index(request):
        request.add_cleanup(Resource())
        return StreamingResponse(Tracked(), media_type="text/plain")

    for iterate in (False, True):
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        body = app(environ, lambda status, headers: None)
        if iterate:
            assert list(body) == [b"x"]
        body.close()  # type: ignore[attr-defined]
        assert events == ["stream closed", "request released"]
        events.clear()
