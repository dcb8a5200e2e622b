"""Faults in-process, under both interfaces: exceptions everywhere, clients that leave
half-way through the body, a blocking sync handler under ASGI.

The app is tests/server_apps/faults_app.py, whose faults raise exceptions with
unique messages; tests/test_servers_faults.py puts the same app under real
servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import tempfile
import threading
import time
from typing import IO, Any

import httpx
import pytest
from blockbuster import blockbuster_ctx
from rawasgi import http_scope, run_asgi
from rawwsgi import http_environ, run_wsgi
from server_apps.faults_app import FAULTS, SPOOL_THRESHOLD, make_app

from dualweb import App
from dualweb import uploads as uploads_module

ANSWERED_500 = ["handler", "async-handler", "before", "after", "error-handler"]
STREAMS = ["stream-start", "stream-mid", "async-stream-start", "async-stream-mid"]
TASKS = ["task", "async-task"]
# What a client with the body only half sent would see, were it still there.
CLIENT_DISCONNECTED = (400, b"Client disconnected")


def dualweb_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "dualweb"]


def wait_for_records(caplog: pytest.LogCaptureFixture, count: int) -> None:
    """Wait (boundedly) until the dualweb logger has at least ``count`` records."""
    deadline = time.monotonic() + 5
    while len(dualweb_records(caplog)) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def reports_of(records: list[logging.LogRecord], message: str) -> list[logging.LogRecord]:
    """The records that carry the exception whose message is ``message``."""
    return [r for r in records if r.exc_info is not None and str(r.exc_info[1]) == message]


# -- exceptions: answered, logged once, and the app serves on -------------------------------


@pytest.mark.parametrize("kind", ANSWERED_500)
def test_exception_is_a_500_logged_once(make_client, caplog, kind: str) -> None:
    client = make_client(make_app())
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        response = client.get(f"/fail/{kind}")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    records = dualweb_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert len(reports_of(records, FAULTS[kind])) == 1
    assert client.get("/").text == "ok"


@pytest.mark.parametrize("kind", STREAMS)
def test_exception_in_streamed_body_cuts_it_short_logged_once(
    make_client, interface: str, caplog, kind: str
) -> None:
    client = make_client(make_app())
    with (
        caplog.at_level(logging.ERROR, logger="dualweb"),
        client.stream("GET", f"/fail/{kind}") as response,
    ):
        # The headers went out before the body failed, even its first chunk.
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            response.read()
    if interface == "wsgi":
        # The test client names the body's own error, not what the server got.
        assert str(caught.value.__cause__) == FAULTS[kind]
    records = dualweb_records(caplog)
    assert [r.getMessage() for r in records] == [
        f"Exception in the streamed body of GET /fail/{kind}"
    ]
    assert len(reports_of(records, FAULTS[kind])) == 1
    assert client.get("/").text == "ok"


@pytest.mark.parametrize("kind", STREAMS)
def test_wsgi_server_gets_a_short_error_not_the_logged_one(caplog, kind: str) -> None:
    """A WSGI server logs what the iterable raises: not the body's error a second time."""
    app = make_app()
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/fail/{kind}",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(),
    }
    result = app(environ, lambda status, headers, exc_info=None: None)
    message = f"^the streamed body of GET /fail/{kind} failed$"
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        try:
            with pytest.raises(Exception, match=message) as caught:
                list(result)
        finally:
            result.close()  # type: ignore[attr-defined]
    assert len(reports_of(dualweb_records(caplog), FAULTS[kind])) == 1
    error = caught.value
    # Printed by the server without the chained error: "from None".
    assert error.__cause__ is None
    assert error.__suppress_context__


@pytest.mark.parametrize("kind", TASKS)
def test_exception_in_background_task_is_logged_once(make_client, caplog, kind: str) -> None:
    client = make_client(make_app())
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        assert client.get(f"/fail/{kind}").text == "sent"
        # Under ASGI the task may still run after the client has the response.
        wait_for_records(caplog, 1)
        assert client.get("/").text == "ok"
    records = dualweb_records(caplog)
    assert len(records) == 1
    assert records[0].getMessage().startswith("Exception in background task")
    assert len(reports_of(records, FAULTS[kind])) == 1


def test_a_run_of_faults_leaves_the_app_serving(make_client, caplog) -> None:
    """Every fault in turn on one app: one report each, and the app still answers."""
    client = make_client(make_app())
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        for kind in ANSWERED_500 + STREAMS + TASKS:
            with (
                client.stream("GET", f"/fail/{kind}") as response,
                contextlib.suppress(httpx.RemoteProtocolError),
            ):
                response.read()
            assert client.get("/async").text == "async ok"
        wait_for_records(caplog, len(FAULTS))
    records = dualweb_records(caplog)
    for kind, message in FAULTS.items():
        assert len(reports_of(records, message)) == 1, kind
    assert len(records) == len(FAULTS)


# -- clients that leave half-way through the body ------------------------------------------

BOUNDARY = "faultsboundary"


def upload_body() -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    ).encode()
    # Past the spool threshold and one batch: on disk before the body ends.
    size = SPOOL_THRESHOLD + 2 * uploads_module.WRITE_BATCH
    return head + b"x" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


BODIES = {
    "/upload": (f"multipart/form-data; boundary={BOUNDARY}", upload_body()),
    "/aupload": (f"multipart/form-data; boundary={BOUNDARY}", upload_body()),
    "/json": ("application/json", b'{"key": "' + b"v" * 100_000 + b'"}'),
    "/ajson": ("application/json", b'{"key": "' + b"v" * 100_000 + b'"}'),
    "/form": ("application/x-www-form-urlencoded", b"a=1&b=" + b"v" * 100_000),
    "/aform": ("application/x-www-form-urlencoded", b"a=1&b=" + b"v" * 100_000),
}
CHUNK = 64 * 1024


class BrokenInput(io.RawIOBase):
    """wsgi.input whose client leaves after ``body``: EOF, or a reset as gunicorn raises it."""

    def __init__(self, body: bytes, reset: bool) -> None:
        self.data = io.BytesIO(body)
        self.reset = reset

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.data.read(size)
        if not chunk and self.reset:
            raise ConnectionResetError(104, "Connection reset by peer")
        return chunk


def call_wsgi(app: App, path: str, reset: bool) -> tuple[int, bytes]:
    content_type, body = BODIES[path]
    environ = http_environ(
        path,
        method="POST",
        body=BrokenInput(body[: len(body) * 2 // 3], reset),
        CONTENT_TYPE=content_type,
        # The whole body announced, half of it sent.
        CONTENT_LENGTH=str(len(body)),
    )
    status, _, answer = run_wsgi(app, environ)
    return status, answer


async def call_asgi(app: App, path: str) -> tuple[int, bytes]:
    content_type, body = BODIES[path]
    half = body[: len(body) * 2 // 3]
    chunks = iter([half[i : i + CHUNK] for i in range(0, len(half), CHUNK)])

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": True}

    headers = [
        (b"host", b"testserver"),
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    return await run_asgi(app, http_scope(path, method="POST", headers=headers), receive)


@pytest.fixture
def temporary_files(monkeypatch: pytest.MonkeyPatch) -> list[IO[bytes]]:
    """Every temporary file the uploads create."""
    created: list[IO[bytes]] = []
    original = tempfile.TemporaryFile

    def record(*args: Any, **kwargs: Any) -> IO[bytes]:
        created.append(original(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(uploads_module.tempfile, "TemporaryFile", record)
    return created


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize("how", ["eof", "reset", "asgi-disconnect"])
def test_client_leaving_mid_body_is_a_quiet_400_and_leaves_no_file_open(
    how: str, path: str, caplog, temporary_files: list[IO[bytes]]
) -> None:
    app = make_app()
    with caplog.at_level(logging.DEBUG, logger="dualweb"):
        if how == "asgi-disconnect":
            with blockbuster_ctx():
                answer = asyncio.run(call_asgi(app, path))
        else:
            answer = call_wsgi(app, path, reset=how == "reset")
    assert answer == CLIENT_DISCONNECTED
    assert dualweb_records(caplog) == []
    if "upload" in path:
        # The upload had reached the disk, and its file is closed.
        assert len(temporary_files) == 1
    assert all(file.closed for file in temporary_files)


# -- a blocking sync handler under ASGI ----------------------------------------------------


def test_blocking_sync_handler_leaves_the_event_loop_free() -> None:
    """While a sync handler blocks its pool thread, async requests are answered.

    The handler blocks until the test has the fast answers: were the loop
    blocked, they would never come, and the handler would give up.
    """
    app = App()
    release = threading.Event()
    blocking = threading.Event()

    @app.get("/block")
    def block(request):
        blocking.set()
        return "released" if release.wait(10) else "gave up"

    @app.get("/fast")
    async def fast(request):
        return "fast"

    async def get(path: str) -> tuple[int, bytes]:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = http_scope(path, headers=[(b"host", b"testserver")])
        return await run_asgi(app, scope, receive)

    async def scenario() -> tuple[tuple[int, bytes], list[tuple[int, bytes]], bool]:
        slow = asyncio.ensure_future(get("/block"))
        while not blocking.is_set():
            await asyncio.sleep(0.001)
        answers = [await get("/fast") for _ in range(20)]
        still_running = not slow.done()
        release.set()
        return await slow, answers, still_running

    with blockbuster_ctx():
        slow, answers, still_running = asyncio.run(scenario())
    assert answers == [(200, b"fast")] * 20
    assert still_running
    assert slow == (200, b"released")
