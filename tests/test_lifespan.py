"""Startup and shutdown hooks, the lifespan context and its state, under both interfaces."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from dualweb import App
from dualweb.lifespan import _forget_after_fork, _shutdown_at_exit
from dualweb.testing import TestClient


def traced_app(events: list[str]) -> App:
    """An app whose lifespan context and hooks (sync and async) record themselves."""

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        try:
            yield {"db": "the database"}
        finally:
            events.append("exit")

    app = App(lifespan=lifespan)

    @app.on_startup
    def first() -> None:
        # The context is entered before the hooks: its state is there.
        events.append(f"startup 1 ({app.state.db})")

    @app.on_startup
    async def second() -> None:
        events.append("startup 2")

    @app.on_shutdown
    async def third() -> None:
        events.append(f"shutdown 1 ({app.state.db})")

    @app.on_shutdown
    def fourth() -> None:
        events.append("shutdown 2")

    @app.get("/")
    def index(request):
        events.append("request")
        return {"db": request.state.db}

    return app


STARTED = ["enter", "startup 1 (the database)", "startup 2"]
STOPPED = ["shutdown 2", "shutdown 1 (the database)", "exit"]


def test_startup_on_enter_and_shutdown_on_close_in_order(make_client):
    events: list[str] = []
    app = traced_app(events)
    with make_client(app) as client:
        assert events == STARTED
        assert client.get("/").json() == {"db": "the database"}
        assert client.get("/").json() == {"db": "the database"}
        # Startup ran once, not again for the requests.
        assert events == [*STARTED, "request", "request"]
    # Shutdown hooks in reverse registration order, then the context is left.
    assert events == [*STARTED, "request", "request", *STOPPED]
    assert not hasattr(app.state, "db")  # the lifespan's state went with it


def test_first_request_starts_the_app(make_client):
    events: list[str] = []
    app = traced_app(events)
    client = make_client(app)
    assert events == []
    assert client.get("/").json() == {"db": "the database"}
    assert events == [*STARTED, "request"]
    client.close()
    assert events[-3:] == STOPPED


def test_request_state_is_a_shallow_copy_of_app_state(make_client):
    @contextlib.contextmanager
    def lifespan(app: App) -> Iterator[dict[str, Any]]:
        yield {"settings": {"greeting": "hi"}, "counter": 0}

    app = App(lifespan=lifespan)
    app.state.version = "1.2"  # set by hand: copied too

    @app.get("/")
    async def index(request):
        request.state.counter += 1  # this request's own attribute
        request.state.settings["seen"] = True  # the shared object
        return {
            "counter": request.state.counter,
            "version": request.state.version,
            "app_counter": request.app.state.counter,
        }

    with make_client(app) as client:
        expected = {"counter": 1, "version": "1.2", "app_counter": 0}
        assert client.get("/").json() == expected
        assert client.get("/").json() == expected
        assert app.state.settings == {"greeting": "hi", "seen": True}
    assert vars(app.state) == {"version": "1.2"}


def test_websocket_state_holds_the_lifespan_state():
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"room": "lobby"}

    app = App(lifespan=lifespan)

    @app.websocket("/ws")
    async def chat(ws):
        await ws.accept()
        await ws.send_text(ws.state.room)

    with TestClient(app, "asgi") as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "lobby"


def test_sync_lifespan_and_hooks_run_off_the_event_loop(make_client, tmp_path):
    # Under ASGI, blockbuster fails a blocking call made on the loop: the
    # sync context manager and the sync hooks must run in the thread pool.
    path = tmp_path / "marker"

    @contextlib.contextmanager
    def lifespan(app: App) -> Iterator[dict[str, Any]]:
        path.write_text("entered")
        yield {"path": path}
        path.write_text("left")

    app = App(lifespan=lifespan)
    app.on_startup(lambda: path.write_text(path.read_text() + ", started"))
    app.on_shutdown(lambda: path.write_text(path.read_text() + ", stopping"))
    app.add_route("/", lambda request: request.state.path.read_text())

    with make_client(app) as client:
        assert client.get("/").text == "entered, started"
    assert path.read_text() == "left"


def test_async_context_is_entered_and_left_in_one_task(make_client):
    tasks: list[asyncio.Task[Any] | None] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        tasks.append(asyncio.current_task())
        yield
        tasks.append(asyncio.current_task())

    app = App(lifespan=lifespan)
    app.add_route("/", lambda request: "ok")
    with make_client(app) as client:
        assert client.get("/").text == "ok"
    assert len(tasks) == 2
    assert tasks[0] is not None
    assert tasks[0] is tasks[1]


def test_where_the_hooks_run(make_client, interface):
    seen: dict[str, str] = {}
    app = App()

    @app.on_startup
    def sync_hook() -> None:
        seen["sync"] = threading.current_thread().name

    @app.on_startup
    async def async_hook() -> None:
        seen["async"] = threading.current_thread().name

    app.add_route("/", lambda request: "ok")
    with make_client(app):
        pass
    if interface == "asgi":
        assert seen["sync"].startswith("dualweb-sync")  # the thread pool
        assert not seen["async"].startswith("dualweb-sync")  # the server's loop
    else:
        # Something async: the whole lifespan runs on its own thread and loop.
        assert seen == {"sync": "dualweb-lifespan", "async": "dualweb-lifespan"}


def test_all_sync_lifespan_under_wsgi_runs_on_the_calling_thread():
    seen: list[str] = []
    app = App()
    app.on_startup(lambda: seen.append(threading.current_thread().name))
    app.on_shutdown(lambda: seen.append(threading.current_thread().name))
    app.startup()
    app.shutdown()
    assert seen == [threading.current_thread().name] * 2


def test_async_startup_hook_can_start_tasks_that_live_on_under_wsgi():
    # The lifespan thread's loop runs until shutdown, so a task spawned at
    # startup keeps running between requests, and is cancelled at the end.
    app = App()
    state: dict[str, Any] = {}

    async def tick() -> None:
        try:
            while True:
                state["ticks"] = state.get("ticks", 0) + 1
                await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    @app.on_startup
    async def start_ticking() -> None:
        state["task"] = asyncio.get_running_loop().create_task(tick())

    @app.on_shutdown
    async def stop_ticking() -> None:
        state["running at shutdown"] = not state["task"].done()
        state["task"].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await state["task"]

    with TestClient(app, "wsgi") as client:
        ticks = state.get("ticks", 0)
        client.get("/")
        for _ in range(1000):
            if state.get("ticks", 0) > ticks:
                break
            threading.Event().wait(0.005)
    assert state["ticks"] > ticks
    assert state["running at shutdown"] is True
    assert state["cancelled"] is True


# -- failures ----------------------------------------------------------------------------


def failing_app(events: list[str]) -> App:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        try:
            yield {"db": "connection"}
        except ValueError as exc:
            events.append(f"left with {exc}")
            raise
        events.append("left")  # pragma: no cover - startup never succeeds

    app = App(lifespan=lifespan)

    @app.on_startup
    def connect() -> None:
        events.append("startup")
        raise ValueError("the database is down")

    app.on_shutdown(lambda: events.append("shutdown"))
    app.add_route("/", lambda request: "served")
    return app


def test_failing_startup_raises_in_the_test_and_leaves_the_context(make_client):
    events: list[str] = []
    app = failing_app(events)
    with pytest.raises(ValueError, match="the database is down"), make_client(app):
        pass  # pragma: no cover
    # The context saw the error; no shutdown hook ran for a failed start.
    assert events == ["enter", "startup", "left with the database is down"]
    assert not hasattr(app.state, "db")


def test_failing_startup_raises_on_the_first_request_without_with(make_client):
    events: list[str] = []
    client = make_client(failing_app(events))
    with pytest.raises(ValueError, match="the database is down"):
        client.get("/")


def run_lifespan(app: Any, messages: list[str]) -> tuple[list[dict[str, Any]], Any]:
    """Drive an ASGI app's lifespan scope by hand: (what it sent, how it ended)."""
    sent: list[dict[str, Any]] = []

    async def main() -> Any:
        incoming = iter([{"type": message} for message in messages])

        async def receive() -> dict[str, Any]:
            return next(incoming)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        try:
            await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        except Exception as exc:
            return exc
        return None

    return sent, asyncio.run(main())


def test_asgi_failing_startup_reports_the_traceback_to_the_server():
    events: list[str] = []
    sent, ended = run_lifespan(failing_app(events).asgi, ["lifespan.startup"])
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    message = sent[0]["message"]
    assert message.startswith("Traceback (most recent call last):")
    assert "in connect" in message
    assert message.endswith("ValueError: the database is down")
    # Raised as well, for whoever runs the app in-process.
    assert isinstance(ended, ValueError)


def test_asgi_lifespan_ignores_unknown_messages():
    events: list[str] = []
    sent, ended = run_lifespan(
        traced_app(events).asgi, ["lifespan.startup", "lifespan.other", "lifespan.shutdown"]
    )
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert ended is None
    assert events == [*STARTED, *STOPPED]


def test_asgi_shutdown_without_startup_completes():
    events: list[str] = []
    sent, ended = run_lifespan(traced_app(events).asgi, ["lifespan.shutdown"])
    assert sent == [{"type": "lifespan.shutdown.complete"}]
    assert ended is None
    assert events == []


def shutdown_failing_app(events: list[str]) -> App:
    @contextlib.contextmanager
    def lifespan(app: App) -> Iterator[None]:
        yield
        events.append("exit")
        raise OSError("could not flush")

    app = App(lifespan=lifespan)

    @app.on_shutdown
    def last() -> None:
        events.append("shutdown 1")

    @app.on_shutdown
    def broken() -> None:
        events.append("shutdown 2")
        raise RuntimeError("could not close")

    return app


def test_failing_shutdown_runs_every_step_and_raises_the_first_error(make_client, caplog):
    events: list[str] = []
    client = make_client(shutdown_failing_app(events))
    client.get("/")
    with pytest.raises(RuntimeError, match="could not close"):
        client.close()
    assert events == ["shutdown 2", "shutdown 1", "exit"]
    # The second error is logged with its traceback.
    [record] = [r for r in caplog.records if r.message == "Another exception during shutdown"]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "could not flush"


def test_asgi_failing_shutdown_reports_the_traceback_to_the_server():
    events: list[str] = []
    app = shutdown_failing_app(events)
    sent, ended = run_lifespan(app.asgi, ["lifespan.startup", "lifespan.shutdown"])
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.failed",
    ]
    assert sent[1]["message"].endswith("RuntimeError: could not close")
    assert isinstance(ended, RuntimeError)


def wsgi_get(app: App, path: str = "/") -> tuple[str, bytes]:
    """One WSGI request straight to ``app.wsgi``, no test client: (status, body)."""
    environ: dict[str, Any] = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    status: list[str] = []
    result = app.wsgi(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        return status[0], b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def test_wsgi_failing_startup_answers_500_without_retrying(caplog):
    events: list[str] = []
    app = failing_app(events)
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        assert wsgi_get(app) == ("500 Internal Server Error", b"Application startup failed")
        assert wsgi_get(app) == ("500 Internal Server Error", b"Application startup failed")
    assert events == ["enter", "startup", "left with the database is down"]  # once
    # Logged once, with the traceback.
    [record] = [r for r in caplog.records if r.name == "dualweb"]
    assert record.message.startswith("Application startup failed")
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "the database is down"
    # Starting by hand says why it cannot.
    with pytest.raises(RuntimeError, match="already failed") as failed:
        app.startup()
    assert isinstance(failed.value.__cause__, ValueError)
    # Shutting down forgets the failure: the next request tries again.
    app.shutdown()
    assert events[-1] != "shutdown"  # nothing had started
    app._lifespan._startup.clear()
    assert wsgi_get(app) == ("200 OK", b"served")
    app.shutdown()
    assert events[-2:] == ["shutdown", "left"]


def test_wsgi_failing_startup_in_debug_shows_the_traceback():
    app = failing_app([])
    app.debug = True
    status, body = wsgi_get(app)
    assert status == "500 Internal Server Error"
    assert body.startswith(b"Traceback")
    assert b"ValueError: the database is down" in body
    app.shutdown()


def test_test_client_without_lifespan_leaves_starting_to_the_wsgi_app(make_client):
    # lifespan=False: the client does not start the app; under WSGI the app
    # starts itself at the first request, under ASGI nothing starts it.
    events: list[str] = []
    client = make_client(failing_app(events), lifespan=False)
    response = client.get("/")
    if client.interface == "wsgi":
        assert (response.status_code, response.text) == (500, "Application startup failed")
        client.app.shutdown()
    else:
        assert response.text == "served"
        assert events == []


# -- the lifespan factory and its state --------------------------------------------------


def test_lifespan_must_yield_a_mapping_of_str_keys(make_client):
    @contextlib.asynccontextmanager
    async def yields_a_list(app: App) -> AsyncIterator[Any]:
        yield ["not", "a", "mapping"]

    with pytest.raises(TypeError, match="must yield a mapping or None, not list"):
        make_client(App(lifespan=yields_a_list)).get("/")

    @contextlib.contextmanager
    def yields_int_keys(app: App) -> Iterator[Any]:
        yield {1: "one"}

    with pytest.raises(TypeError, match="keys must be str, not 1"):
        make_client(App(lifespan=yields_int_keys)).get("/")


def test_lifespan_must_return_a_context_manager(make_client):
    with pytest.raises(TypeError, match="must return a context manager"):
        make_client(App(lifespan=lambda app: "nothing")).get("/")


def test_lifespan_and_hooks_must_be_callable():
    with pytest.raises(TypeError, match="lifespan must be a function"):
        App(lifespan="lifespan")  # type: ignore[arg-type]
    app = App()
    with pytest.raises(TypeError, match="must be callable, not str"):
        app.on_startup("hook")
    with pytest.raises(TypeError, match="must be callable, not NoneType"):
        app.on_shutdown(None)


def test_lifespan_gets_the_app_and_a_class_context_manager_works(make_client):
    class Database:
        def __init__(self, app: App) -> None:
            self.app = app
            self.open = False

        async def __aenter__(self) -> dict[str, Any]:
            self.open = True
            return {"database": self}

        async def __aexit__(self, *exc_info: object) -> None:
            self.open = False

    app = App(lifespan=Database)
    app.add_route("/", lambda request: {"open": request.state.database.open})
    with make_client(app) as client:
        database = app.state.database
        assert database.app is app
        assert client.get("/").json() == {"open": True}
    assert database.open is False


# -- the process-wide run: app.startup(), app.shutdown(), threads, fork, exit -------------


def test_startup_and_shutdown_by_hand_are_idempotent():
    events: list[str] = []
    app = traced_app(events)
    app.shutdown()  # not started: nothing to do
    app.startup()
    app.startup()
    assert events == STARTED
    app.shutdown()
    app.shutdown()
    assert events == [*STARTED, *STOPPED]
    # Started again (a new test client, say): a new run of the context.
    app.startup()
    assert app.state.db == "the database"
    app.shutdown()
    assert events == [*STARTED, *STOPPED] * 2


def test_wsgi_concurrent_first_requests_start_the_app_once():
    app = App()
    starts: list[str] = []
    release = threading.Event()

    @app.on_startup
    def slow_start() -> None:
        starts.append(threading.current_thread().name)
        release.wait(5)
        app.state.ready = True

    app.add_route("/", lambda request: "ready" if request.state.ready else "too early")
    results: list[tuple[str, bytes]] = []
    threads = [
        threading.Thread(target=lambda: results.append(wsgi_get(app)), name=f"worker-{n}")
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == [("200 OK", b"ready")] * 4
    assert len(starts) == 1
    app.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_again():
    # gunicorn --preload imports the app in the master, then forks workers:
    # a run started before the fork is the parent's, and the child starts its own.
    starts: list[int] = []
    app = App()
    app.on_startup(lambda: starts.append(os.getpid()))
    app.add_route("/", lambda request: str(starts))
    app.startup()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write_end, wsgi_get(app)[1])
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        seen = pipe.read().decode()
    os.waitpid(pid, 0)
    assert seen == f"[{os.getpid()}, {pid}]"
    assert starts == [os.getpid()]  # the parent's run is untouched
    app.shutdown()


def test_forgetting_after_fork_resets_the_run():
    app = App()
    app.startup()
    assert app._lifespan.ready
    _forget_after_fork()
    assert not app._lifespan.ready
    assert app._lifespan._stop_run is None


def test_process_exit_shuts_down_and_logs_errors(caplog):
    events: list[str] = []
    app = shutdown_failing_app(events)
    app.startup()
    with caplog.at_level(logging.ERROR, logger="dualweb"):
        _shutdown_at_exit()
    assert events == ["shutdown 2", "shutdown 1", "exit"]
    messages = [record.message for record in caplog.records]
    assert "Exception during the app's shutdown at process exit" in messages


SCRIPT = """
import asyncio
import contextlib
from wsgiref.util import setup_testing_defaults

from dualweb import App


@contextlib.asynccontextmanager
async def lifespan(app):
    print("enter", flush=True)
    yield {"answer": 42}
    await asyncio.sleep(0)
    print("exit", flush=True)


app = App(lifespan=lifespan)
app.on_shutdown(lambda: print("shutdown hook", flush=True))
app.add_route("/", lambda request: str(request.state.answer))

environ = {}
setup_testing_defaults(environ)
print(b"".join(app.wsgi(environ, lambda status, headers: None)).decode(), flush=True)
print("end of script", flush=True)
"""


def test_wsgi_process_exit_runs_the_shutdown():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "enter",
        "42",
        "end",
        "of",
        "script",
        "shutdown",
        "hook",
        "exit",
    ]


def test_async_shutdown_failure_under_wsgi_is_raised():
    app = App()

    @app.on_shutdown
    async def broken() -> None:
        raise RuntimeError("could not close")

    app.startup()
    with pytest.raises(RuntimeError, match="could not close"):
        app.shutdown()
    app.shutdown()  # already stopped


def test_shutdown_waits_for_the_requests_background_tasks(make_client):
    events: list[str] = []
    app = App()
    app.on_shutdown(lambda: events.append("shutdown"))

    async def slow_task() -> None:
        await asyncio.sleep(0.05)
        events.append("task")

    @app.get("/")
    def index(request):
        request.add_task(slow_task)
        return "ok"

    client = make_client(app)
    assert client.get("/").text == "ok"
    client.close()
    assert events == ["task", "shutdown"]


# -- the test client and ASGI apps that are not dualweb Apps -------------------------------


def test_asgi_app_without_lifespan_support_is_served_without_it():
    async def no_lifespan(scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"unsupported scope {scope['type']}")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def confused(scope, receive, send):
        # Answers every scope as if it were HTTP.
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for app in (no_lifespan, confused):
        with TestClient(app, "asgi", lifespan=True) as client:
            assert client.get("/").status_code == 204


def test_wrapped_app_runs_its_lifespan_only_when_asked():
    events: list[str] = []
    app = traced_app(events)

    async def wrapper(scope, receive, send):
        await app.asgi(scope, receive, send)

    with TestClient(wrapper, "asgi") as client:
        assert client.get("/").status_code == 500  # not started: no state
    assert events == ["request"]
    events.clear()
    with TestClient(wrapper, "asgi", lifespan=True) as client:
        assert client.get("/").json() == {"db": "the database"}
    assert events == [*STARTED, "request", *STOPPED]
    # Under WSGI the app starts itself at its first request, wrapped or not.
    events.clear()
    with TestClient(app.wsgi, "wsgi", lifespan=True) as client:
        assert events == []
        assert client.get("/").json() == {"db": "the database"}
    app.shutdown()
    assert events == [*STARTED, "request", *STOPPED]


def test_asgi_failure_message_without_an_exception(monkeypatch):
    async def refuses(scope, receive, send):
        message = await receive()
        await send({"type": message["type"] + ".failed", "message": "no database"})

    with pytest.raises(RuntimeError, match=r"lifespan.startup.failed: no database"):
        TestClient(refuses, "asgi", lifespan=True).__enter__()

    async def refuses_then_hangs(scope, receive, send):
        await refuses(scope, receive, send)
        await asyncio.Event().wait()

    monkeypatch.setattr("dualweb.testing._asgi_transport._DISCONNECT_GRACE", 0.01)
    with pytest.raises(RuntimeError, match=r"lifespan.startup.failed: no database"):
        TestClient(refuses_then_hangs, "asgi", lifespan=True).__enter__()


def test_asgi_shutdown_ending_without_a_reply():
    async def quits_at_shutdown(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()

    async def fails_at_shutdown(scope, receive, send):
        await quits_at_shutdown(scope, receive, send)
        raise OSError("lost the connection")

    TestClient(quits_at_shutdown, "asgi", lifespan=True).__enter__().close()
    client = TestClient(fails_at_shutdown, "asgi", lifespan=True).__enter__()
    with pytest.raises(OSError, match="lost the connection"):
        client.close()


def stop_in_a_multiprocessing_child(path: str) -> None:
    app = App()
    app.on_shutdown(lambda: open(path, "w").write("shut down"))  # noqa: SIM115
    app.startup()


def test_multiprocessing_child_exit_runs_the_shutdown(tmp_path):
    # Such a child (a granian worker) ends with os._exit(), skipping atexit.
    import multiprocessing

    path = tmp_path / "marker"
    child = multiprocessing.get_context("fork").Process(
        target=stop_in_a_multiprocessing_child, args=(str(path),)
    )
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert path.read_text() == "shut down"
