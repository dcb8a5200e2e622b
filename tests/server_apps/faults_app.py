"""An app that fails on purpose, for tests/test_faults.py and tests/test_servers_faults.py.

Served by real servers as ``tests.server_apps.faults_app:app``; the
in-process tests build their own with :func:`make_app`. Every fault raises
an exception whose message is unique (``FAULTS[kind]``), so a test can count
how often the server's output names it. ``/debug`` reports the live threads
and tasks and how many streamed bodies were closed; ``/slow`` blocks its
thread. With ``DUALWEB_TEST_MARKS`` set, starting and stopping leave
``<event> <pid>`` lines in that file.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from dualweb import App, Request, StreamingResponse
from dualweb.middleware.base import Middleware
from dualweb.sse import EventSourceResponse

#: The message of each fault's exception: unique, so that it can be counted in a log.
FAULTS = {
    "handler": "fault-in-handler",
    "async-handler": "fault-in-async-handler",
    "before": "fault-in-before-hook",
    "after": "fault-in-after-hook",
    "error-handler": "fault-in-error-handler",
    "stream-start": "fault-before-first-chunk",
    "stream-mid": "fault-mid-stream",
    "async-stream-start": "fault-before-first-async-chunk",
    "async-stream-mid": "fault-mid-async-stream",
    "task": "fault-in-task",
    "async-task": "fault-in-async-task",
}
#: Small, so that test uploads (a few MB) leave memory early.
SPOOL_THRESHOLD = 64 * 1024
#: The body and file limit: above the default 1 MiB, for those uploads.
MAX_UPLOAD = 16 * 1024 * 1024
#: Seconds between two chunks of the endless streams.
TICK = 0.02


class Fault(Exception):
    """What every fault raises."""


class Unhandled(Exception):
    """Raised by /fail/error-handler: its error handler fails in turn."""


class FailingHooks(Middleware):
    """Fails in ``before_request`` or ``after_request`` for the matching paths."""

    def before_request(self, request: Request) -> None:
        if request.path == "/fail/before":
            raise Fault(FAULTS["before"])

    def after_request(self, request: Request, response: Any) -> None:
        if request.path == "/fail/after":
            raise Fault(FAULTS["after"])


def _describe(task: asyncio.Task[Any]) -> str:
    """A task by its coroutine's name, for /debug's report of what is left on the loop."""
    coroutine = task.get_coro()
    return getattr(coroutine, "__qualname__", None) or repr(coroutine)


def mark(event: str) -> None:
    path = os.environ.get("DUALWEB_TEST_MARKS")
    if path:
        with open(path, "a", encoding="utf-8") as marks:
            marks.write(f"{event} {os.getpid()}\n")


def make_app() -> App:
    app = App(spool_threshold=SPOOL_THRESHOLD, max_body_size=MAX_UPLOAD, max_file_size=MAX_UPLOAD)
    app.add_middleware(FailingHooks())
    #: Streamed bodies whose finally clause ran.
    closed = {"count": 0}
    #: Requests to /slow under way.
    slow_running = {"count": 0}
    lock = threading.Lock()

    def count_closed() -> None:
        with lock:
            closed["count"] += 1

    @app.on_startup
    def started() -> None:
        mark("startup")

    @app.on_shutdown
    def stopping() -> None:
        mark("shutdown")

    @app.errorhandler(Unhandled)
    def failing_error_handler(request: Request, exc: Exception) -> Any:
        raise Fault(FAULTS["error-handler"])

    # -- healthy routes ------------------------------------------------------------------

    @app.get("/")
    def index(request: Request) -> str:
        return "ok"

    @app.get("/async")
    async def async_index(request: Request) -> str:
        return "async ok"

    @app.get("/debug")
    async def debug(request: Request) -> dict[str, Any]:
        # An async handler: asyncio.all_tasks() needs the running loop.
        frames = sys._current_frames()
        pool = [t for t in threading.enumerate() if t.name.startswith("dualweb-sync")]
        # An idle pool thread waits in ThreadPoolExecutor's _worker (the
        # queue's get() is C code): anywhere else, it is at work.
        busy = [
            t for t in pool if t.ident in frames and frames[t.ident].f_code.co_name != "_worker"
        ]
        return {
            # The pool's threads start on demand and stay: counted apart.
            "threads": threading.active_count() - len(pool),
            "pool_threads": len(pool),
            "pool_busy": len(busy),
            "tasks": len(asyncio.all_tasks()),
            "task_names": sorted(_describe(task) for task in asyncio.all_tasks()),
            "closed": closed["count"],
            "slow": slow_running["count"],
        }

    @app.get("/slow")
    def slow(request: Request) -> dict[str, Any]:
        seconds = float(request.query_params.get("seconds", "3"))
        with lock:
            slow_running["count"] += 1
        mark("slow-start")
        try:
            started = time.monotonic()
            time.sleep(seconds)
            return {"slept": seconds, "started": started, "ended": time.monotonic()}
        finally:
            with lock:
                slow_running["count"] -= 1

    @app.get("/clock")
    async def clock(request: Request) -> dict[str, float]:
        return {"now": time.monotonic()}

    # -- bodies read by handlers -----------------------------------------------------------

    @app.post("/upload")
    def upload(request: Request) -> dict[str, int]:
        return {name: file.size for name, file in request.form().files.items()}

    @app.post("/aupload")
    async def aupload(request: Request) -> dict[str, int]:
        return {name: file.size for name, file in (await request.aform()).files.items()}

    @app.post("/json")
    def json_body(request: Request) -> Any:
        return {"keys": len(request.json())}

    @app.post("/ajson")
    async def ajson_body(request: Request) -> Any:
        return {"keys": len(await request.ajson())}

    @app.post("/form")
    def form_body(request: Request) -> Any:
        return {"fields": len(request.form())}

    @app.post("/aform")
    async def aform_body(request: Request) -> Any:
        return {"fields": len(await request.aform())}

    # -- endless streams, for clients that leave -------------------------------------------

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"x" * 1024 + b"\n"
                time.sleep(TICK)
        finally:
            count_closed()

    async def aendless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * 1024 + b"\n"
                await asyncio.sleep(TICK)
        finally:
            count_closed()

    async def events() -> AsyncIterator[str]:
        try:
            number = 0
            while True:
                number += 1
                yield f"event {number}"
                await asyncio.sleep(TICK)
        finally:
            count_closed()

    @app.get("/stream")
    def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(endless(), media_type="text/plain")

    @app.get("/astream")
    def astream(request: Request) -> StreamingResponse:
        return StreamingResponse(aendless(), media_type="text/plain")

    @app.get("/events")
    def sse(request: Request) -> EventSourceResponse:
        return EventSourceResponse(events())

    # -- faults ------------------------------------------------------------------------------

    @app.get("/fail/handler")
    def fail_handler(request: Request) -> None:
        raise Fault(FAULTS["handler"])

    @app.get("/fail/async-handler")
    async def fail_async_handler(request: Request) -> None:
        raise Fault(FAULTS["async-handler"])

    @app.get("/fail/before")
    def fail_before(request: Request) -> str:
        return "never sent"

    @app.get("/fail/after")
    def fail_after(request: Request) -> str:
        return "replaced by a 500"

    @app.get("/fail/error-handler")
    def fail_error_handler(request: Request) -> None:
        raise Unhandled("handled by a failing error handler")

    def failing_chunks(kind: str, first: bool) -> Iterator[bytes]:
        if not first:
            yield b"first chunk\n"
        raise Fault(FAULTS[kind])

    async def afailing_chunks(kind: str, first: bool) -> AsyncIterator[bytes]:
        if not first:
            yield b"first chunk\n"
        raise Fault(FAULTS[kind])

    @app.get("/fail/stream-start")
    def fail_stream_start(request: Request) -> StreamingResponse:
        return StreamingResponse(failing_chunks("stream-start", True), media_type="text/plain")

    @app.get("/fail/stream-mid")
    def fail_stream_mid(request: Request) -> StreamingResponse:
        return StreamingResponse(failing_chunks("stream-mid", False), media_type="text/plain")

    @app.get("/fail/async-stream-start")
    def fail_async_stream_start(request: Request) -> StreamingResponse:
        return StreamingResponse(
            afailing_chunks("async-stream-start", True), media_type="text/plain"
        )

    @app.get("/fail/async-stream-mid")
    def fail_async_stream_mid(request: Request) -> StreamingResponse:
        return StreamingResponse(
            afailing_chunks("async-stream-mid", False), media_type="text/plain"
        )

    def failing_task() -> None:
        raise Fault(FAULTS["task"])

    async def afailing_task() -> None:
        raise Fault(FAULTS["async-task"])

    @app.get("/fail/task")
    def fail_task(request: Request) -> str:
        request.add_task(failing_task)
        return "sent"

    @app.get("/fail/async-task")
    def fail_async_task(request: Request) -> str:
        request.add_task(afailing_task)
        return "sent"

    return app


app = make_app()
