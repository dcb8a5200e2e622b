"""Streaming routes for the real-server tests: event streams that count how
often their source was closed, and a body that fails half-way."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

from dualweb import App, StreamingResponse
from dualweb.sse import EventSourceResponse

app = App()
# Per worker process; the tests run one worker.
closed_sources = {"count": 0}
_lock = threading.Lock()


def _count_closed() -> None:
    with _lock:
        closed_sources["count"] += 1


async def quiet_async_events() -> AsyncIterator[str]:
    try:
        yield "hello"
        await asyncio.Event().wait()  # nothing more to say, ever
    finally:
        _count_closed()


def quiet_sync_events() -> Iterator[str | None]:
    never = threading.Event()
    try:
        yield "hello"
        while not never.wait(0.05):
            # Nothing to send; yielding lets the stream stop if the client left.
            yield None
    finally:
        _count_closed()


def failing_body() -> Iterator[bytes]:
    yield b"first part\n"
    raise RuntimeError("failed half-way")


@app.get("/")
def index(request):
    return "ok"


@app.get("/events")
def events(request):
    return EventSourceResponse(quiet_async_events(), ping=0.2)


@app.get("/sync-events")
def sync_events(request):
    return EventSourceResponse(quiet_sync_events(), ping=0.2)


@app.get("/closed")
def closed(request):
    return {"closed": closed_sources["count"]}


@app.get("/broken")
def broken(request):
    return StreamingResponse(failing_body(), media_type="text/plain")
