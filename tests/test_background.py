"""Background tasks run after the response has been sent, under both interfaces."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from dualweb import App, FileResponse, PlainTextResponse, StreamingResponse
from dualweb.background import BackgroundTasks
from dualweb.middleware import Middleware

WAIT = 5.0


class Recorded:
    """An app whose server side logs when the response is over, in ``log``.

    Under WSGI that is the server calling ``close()`` on the iterable (PEP
    3333: once the response is sent); under ASGI the last body message
    (``more_body`` false) having been sent. A task that logs itself must
    come after that entry.
    """

    def __init__(self, app: App, log: list[str]) -> None:
        self.app = app
        self.log = log

    def wsgi(self, environ: Any, start_response: Any) -> Any:
        return _RecordedIterable(self.app.wsgi(environ, start_response), self.log)

    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        async def recorded_send(message: dict[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.log.append("sent")

        await self.app.asgi(scope, receive, recorded_send)


class _RecordedIterable:
    def __init__(self, result: Any, log: list[str]) -> None:
        self.result = result
        self.log = log

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.result)

    def close(self) -> None:
        self.log.append("sent")
        self.result.close()


def tasks_app(log: list[str]) -> App:
    app = App()

    def record(name: str) -> None:
        log.append(name)

    async def arecord(name: str) -> None:
        await asyncio.sleep(0)
        log.append(name)

    @app.get("/text")
    def text(request):
        response = PlainTextResponse("hello")
        response.add_task(record, "sync task")
        response.add_task(arecord, name="async task")
        return response

    @app.get("/json")
    async def json(request):
        request.add_task(record, "request task")
        return {"hello": "world"}

    @app.get("/stream")
    def stream(request):
        def chunks() -> Iterator[str]:
            yield "a"
            log.append("body end")

        response = StreamingResponse(chunks(), media_type="text/plain")
        response.add_task(record, "stream task")
        return response

    @app.get("/astream")
    async def astream(request):
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"
            log.append("body end")

        response = StreamingResponse(chunks(), media_type="text/plain")
        response.add_task(arecord, "astream task")
        return response

    @app.get("/missing")
    def missing(request):
        request.add_task(record, "task of a failed request")
        raise LookupError("no such thing")

    return app


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/text", "hello", ["sent", "sync task", "async task"]),
        ("/json", '{"hello":"world"}', ["sent", "request task"]),
        ("/stream", "a", ["body end", "sent", "stream task"]),
        ("/astream", "a", ["body end", "sent", "astream task"]),
        ("/missing", "Internal Server Error", ["sent", "task of a failed request"]),
    ],
)
def test_tasks_run_after_the_response_is_sent(make_client, path, body, expected):
    log: list[str] = []
    client = make_client(Recorded(tasks_app(log), log))
    response = client.get(path)
    assert response.text == body
    client.close()  # under ASGI, waits for the app's task to end
    assert log == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/text", ["sent", "sync task", "async task"]), ("/stream", ["sent", "stream task"])],
)
def test_tasks_run_for_head_requests(make_client, path, expected):
    log: list[str] = []
    client = make_client(Recorded(tasks_app(log), log))
    response = client.head(path)
    assert (response.status_code, response.content) == (200, b"")
    client.close()
    assert log == expected


def test_asgi_client_has_the_response_while_the_task_runs():
    # A task that waits for the test: were it run before the response was
    # sent, the request would hang until the task gave up.
    from dualweb.testing import TestClient

    app = App()
    release = threading.Event()
    outcome: list[str] = []

    def wait_for_the_test() -> None:
        outcome.append("released" if release.wait(WAIT) else "gave up")

    @app.get("/")
    def index(request):
        request.add_task(wait_for_the_test)
        return "sent first"

    with TestClient(app, "asgi") as client:
        assert client.get("/").text == "sent first"
        assert outcome == []
        release.set()
    assert outcome == ["released"]


def test_wsgi_tasks_wait_for_close_not_for_the_end_of_the_body(make_client):
    # The server sends the end of a chunked body after the iteration ends:
    # only close() says that the response is out.
    log: list[str] = []
    client = make_client(tasks_app(log))
    with client.stream("GET", "/stream") as response:
        # The whole body, without httpx closing the response at its end.
        assert b"".join(response.stream) == b"a"
        if client.interface == "wsgi":
            assert log == ["body end"]
    client.close()
    assert log == ["body end", "stream task"]


def test_failing_task_is_logged_and_the_next_one_runs(make_client, caplog):
    app = App()
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("task failed")

    async def abroken() -> None:
        raise ValueError("async task failed")

    @app.get("/")
    def index(request):
        response = PlainTextResponse("fine")
        response.add_task(broken)
        response.add_task(abroken)
        response.add_task(ran.append, "after")
        return response

    client = make_client(app)
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        response = client.get("/")
        assert (response.status_code, response.text) == (200, "fine")
        assert client.get("/").text == "fine"  # the worker serves on
        client.close()
    assert ran == ["after", "after"]
    failures = [r for r in caplog.records if r.message.startswith("Exception in background task")]
    # (Under ASGI, the two requests' tasks may interleave.)
    assert sorted(r.message.rpartition(".")[2] for r in failures) == [
        "abroken",
        "abroken",
        "broken",
        "broken",
    ]
    assert sorted(str(r.exc_info[1]) for r in failures if r.exc_info) == [
        "async task failed",
        "async task failed",
        "task failed",
        "task failed",
    ]


def test_where_tasks_run(make_client, interface):
    app = App()
    seen: dict[str, Any] = {}

    def sync_task() -> None:
        seen["sync"] = threading.current_thread().name
        with open(__file__, "rb") as source:  # blocking: fine off the loop
            source.read(1)

    async def async_task() -> None:
        seen["async"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop() is not None

    @app.get("/")
    def index(request):
        request.add_task(sync_task)
        request.add_task(async_task)
        return "ok"

    client = make_client(app)
    assert client.get("/").text == "ok"
    client.close()
    if interface == "asgi":
        assert seen["sync"].startswith("dualweb-sync")  # the thread pool
        assert not seen["async"].startswith("dualweb-sync")  # the server's loop
    else:
        # The WSGI server's thread (the test's own here), its loop for async ones.
        assert seen["sync"] == seen["async"] == threading.current_thread().name
    assert seen["loop"] is True


def test_tasks_can_read_the_uploads(make_client):
    app = App()
    contents: list[bytes] = []

    def save(upload: Any) -> None:
        upload.seek(0)
        contents.append(upload.read())

    @app.post("/upload")
    def upload(request):
        request.add_task(save, request.form().files["file"])
        return "queued"

    client = make_client(app)
    assert client.post("/upload", files={"file": ("a.txt", b"data" * 1000)}).text == "queued"
    client.close()
    assert contents == [b"data" * 1000]


def test_tasks_run_when_the_client_leaves_mid_stream(make_client):
    app = App()
    done = threading.Event()

    @app.get("/endless")
    def endless(request):
        def chunks() -> Iterator[bytes]:
            while True:
                yield b"tick\n"

        response = StreamingResponse(chunks(), media_type="text/plain")
        response.add_task(done.set)
        return response

    client = make_client(app)
    with client.stream("GET", "/endless") as response:
        assert next(response.iter_raw()).startswith(b"tick")
    assert done.wait(WAIT)


def test_tasks_run_when_the_body_fails(make_client):
    app = App()
    done = threading.Event()

    @app.get("/broken")
    def broken(request):
        def chunks() -> Iterator[bytes]:
            yield b"partial"
            raise RuntimeError("failed half-way")

        response = StreamingResponse(chunks(), media_type="text/plain")
        response.add_task(done.set)
        return response

    client = make_client(app)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/broken")
    assert done.wait(WAIT)


def test_request_tasks_run_whatever_response_is_sent(make_client):
    ran: list[str] = []

    class Replace(Middleware):
        inline = True

        def before_request(self, request):
            request.add_task(ran.append, f"{request.path} middleware's")

        def after_request(self, request, response):
            replacement = PlainTextResponse("replaced")
            replacement.add_task(ran.append, f"{request.path} replacement's")
            return replacement

    app = App()
    app.add_middleware(Replace())

    @app.get("/")
    def index(request):
        request.add_task(ran.append, "/ handler's")
        response = PlainTextResponse("original")
        response.add_task(ran.append, "/ replaced response's")  # never sent: never run
        return response

    client = make_client(app)
    assert client.get("/").text == "replaced"
    assert client.get("/nowhere").text == "replaced"  # a 404 the middleware replaced
    client.close()
    # The request's tasks first, then the response's; the replaced one's are
    # dropped. (Under ASGI the two requests' tasks may interleave.)
    assert [task for task in ran if task.startswith("/ ")] == [
        "/ middleware's",
        "/ handler's",
        "/ replacement's",
    ]
    assert [task for task in ran if task.startswith("/nowhere ")] == [
        "/nowhere middleware's",
        "/nowhere replacement's",
    ]


def test_file_responses_keep_their_tasks(make_client, tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello, file")
    ran: list[str] = []

    class ServeFile(Middleware):
        inline = True

        def after_request(self, request, response):
            if request.path.startswith("/late"):
                replacement = FileResponse(path)
                if request.path == "/late":
                    replacement.add_task(ran.append, "late file")
                return replacement
            return None

    app = App()
    app.add_middleware(ServeFile())

    @app.get("/file")
    def file(request):
        response = FileResponse(path)
        response.add_task(ran.append, "file")
        return response

    app.add_route("/late", lambda request: "replaced by a file")
    app.add_route("/late-without-task", lambda request: "replaced by a file")
    client = make_client(app)
    assert client.get("/file").text == "hello, file"
    assert client.get("/file", headers={"Range": "bytes=0-4"}).text == "hello"
    late = client.get("/late")
    assert late.text == "hello, file"
    not_modified = client.get("/late", headers={"If-None-Match": late.headers["etag"]})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    etag = {"If-None-Match": late.headers["etag"]}
    assert client.get("/late-without-task", headers=etag).status_code == 304
    client.close()
    assert sorted(ran) == ["file", "file", "late file", "late file"]  # any order under ASGI


def test_wsgi_iterable_without_tasks_stays_a_list():
    # The common case pays nothing: no wrapper around the body.
    app = App()

    @app.get("/")
    def index(request):
        return "plain"

    @app.get("/task")
    def task(request):
        request.add_task(print)
        return "with a task"

    environ: dict[str, Any] = {"PATH_INFO": "/"}
    setup_testing_defaults(environ)
    assert app.wsgi(environ, lambda status, headers: None) == [b"plain"]
    environ["PATH_INFO"] = "/task"
    result = app.wsgi(environ, lambda status, headers: None)
    assert not isinstance(result, list)
    assert list(result) == [b"with a task"]
    result.close()  # type: ignore[attr-defined]
    app.shutdown()


def test_wsgi_tasks_run_once_even_if_closed_twice(capsys):
    app = App()
    ran: list[int] = []

    @app.get("/")
    def index(request):
        request.add_task(ran.append, 1)
        return "ok"

    environ: dict[str, Any] = {"PATH_INFO": "/"}
    setup_testing_defaults(environ)
    result = app.wsgi(environ, lambda status, headers: None)
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]
    assert ran == [1]
    app.shutdown()


def test_background_tasks_object():
    tasks = BackgroundTasks()
    assert len(tasks) == 0
    assert not tasks.is_async
    tasks.add(print, "hello")

    async def notify() -> None:
        pass

    tasks.add(notify)
    assert len(tasks) == 2
    assert tasks.is_async
    assert repr(tasks) == (
        "<BackgroundTasks [print, test_background_tasks_object.<locals>.notify]>"
    )
    with pytest.raises(TypeError, match="must be callable, not str"):
        tasks.add("print")  # type: ignore[arg-type]


def test_response_background_can_be_assigned(make_client):
    ran: list[str] = []
    tasks = BackgroundTasks()
    tasks.add(ran.append, "assigned")
    app = App()

    @app.get("/")
    def index(request):
        response = PlainTextResponse(b"ok")
        assert response.background is None
        response.background = tasks
        return response

    client = make_client(app)
    assert client.get("/").text == "ok"
    client.close()
    assert ran == ["assigned"]
