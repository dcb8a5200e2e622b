"""Lifespan and background tasks under real servers.

ASGI servers drive startup and shutdown through the lifespan protocol and
stop when startup fails; WSGI workers start the app once each, at their
first request, and shut it down when they exit. Background tasks run after
the client has its response. The apps (tests/server_apps/lifespan_app.py)
leave their marks, ``<event> <pid>`` lines, in the file named by
``DUALWEB_TEST_MARKS``.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serverkit import (
    HOST,
    STARTUP_TIMEOUT,
    Server,
    Servers,
    spawn_server,
    stop_server,
)

pytestmark = pytest.mark.servers

APP = "tests.server_apps.lifespan_app:app"
FAILING = "tests.server_apps.lifespan_app:failing"
#: A gunicorn config that starts the app when a worker boots.
BOOT_CONFIG = ["-c", "python:tests.server_apps.gunicorn_startup"]
ASGI_SERVERS = ["uvicorn", "gunicorn-asgi", "gunicorn-uvicorn-worker", "granian-asgi"]
WAIT = 10.0


def launch(name: str, app: str, log_dir: Path, *options: str) -> Server:
    """Start a server and wait until it listens, without sending it a request.

    (serverkit's start_server sends one, and under WSGI the first request
    starts the app.)
    """
    server = spawn_server(name, app, log_dir, *options)
    port = int(server.url.rpartition(":")[2])
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"exited with status {server.process.returncode}: {server.describe()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return server
        if time.monotonic() > deadline:
            stop_server(server)
            pytest.fail(f"not listening within {STARTUP_TIMEOUT} s: {server.describe()}")
        time.sleep(0.05)


@contextlib.contextmanager
def running(name: str, app: str, log_dir: Path, *options: str) -> Iterator[Server]:
    server = launch(name, app, log_dir, *options)
    try:
        yield server
    finally:
        stop_server(server)


def read_marks(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(event, int(pid)) for event, pid in (line.split() for line in lines)]


def by_pid(marks: list[tuple[str, int]]) -> dict[int, list[str]]:
    events: dict[int, list[str]] = {}
    for event, pid in marks:
        events.setdefault(pid, []).append(event)
    return events


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "marks"
    monkeypatch.setenv("DUALWEB_TEST_MARKS", str(path))
    return path


def get_concurrently(server: Server, path: str, count: int) -> list[httpx.Response]:
    responses: list[httpx.Response] = []
    errors: list[BaseException] = []

    def get() -> None:
        try:
            with server.client() as client:
                responses.append(client.get(path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=get) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert not errors, server.describe()
    return responses


# -- startup and shutdown ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [(name, ()) for name in ASGI_SERVERS] + [("gunicorn-gthread", tuple(BOOT_CONFIG))],
)
def test_failing_startup_stops_the_server_with_the_error(name, options, tmp_path, marks):
    server = launch_and_wait_for_exit(name, FAILING, tmp_path, *options)
    assert server.process.returncode != 0, server.describe()
    assert "ValueError: the database is down" in server.log(), server.describe()


def launch_and_wait_for_exit(name: str, app: str, log_dir: Path, *options: str) -> Server:
    server = spawn_server(name, app, log_dir, *options)
    try:
        server.process.wait(STARTUP_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_server(server)
        pytest.fail(
            f"still running {STARTUP_TIMEOUT} s after a failed startup: {server.describe()}"
        )
    return server


@pytest.mark.parametrize("name", ASGI_SERVERS)
def test_asgi_server_starts_once_and_shuts_down_on_sigterm(name, tmp_path, marks):
    with running(name, APP, tmp_path) as server:
        responses = get_concurrently(server, "/", 4)
        assert [r.text for r in responses] == ["ready"] * 4, server.describe()
        assert [event for event, _ in read_marks(marks)] == ["enter", "startup"]
    # SIGTERM: the server sends lifespan.shutdown before it exits.
    [events] = by_pid(read_marks(marks)).values()
    assert events == ["enter", "startup", "shutdown", "exit"], server.describe()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("gunicorn-sync", ()),
        ("gunicorn-gthread", ()),
        ("gunicorn-gthread", ("--workers", "2")),
        ("granian-wsgi", ()),
    ],
)
def test_wsgi_worker_starts_once_at_its_first_request_and_stops_at_exit(
    name, options, tmp_path, marks
):
    with running(name, APP, tmp_path, *options) as server:
        assert read_marks(marks) == []  # nothing before the first request
        # Concurrent first requests: one startup per worker, the others wait for it.
        responses = get_concurrently(server, "/", 8)
        assert [r.text for r in responses] == ["ready"] * 8, server.describe()
        started = by_pid(read_marks(marks))
        assert started, server.describe()
        for events in started.values():
            assert events == ["enter", "startup"], server.describe()
    stopped = by_pid(read_marks(marks))
    assert stopped.keys() == started.keys()
    for events in stopped.values():
        assert events == ["enter", "startup", "shutdown", "exit"], server.describe()


def test_gunicorn_preload_starts_again_in_each_worker(tmp_path, marks, monkeypatch):
    # The app starts when imported; with --preload that is in the master,
    # and the forked worker's run must be its own.
    monkeypatch.setenv("DUALWEB_TEST_START_AT_IMPORT", "1")
    with running("gunicorn-gthread", APP, tmp_path, "--preload") as server:
        master = server.process.pid
        with server.client() as client:
            assert client.get("/").text == "ready", server.describe()
        started = by_pid(read_marks(marks))
        assert started.pop(master) == ["enter", "startup"], server.describe()
        [worker_events] = started.values()
        assert worker_events == ["enter", "startup"], server.describe()
    stopped = by_pid(read_marks(marks))
    assert stopped.pop(master) == ["enter", "startup", "shutdown", "exit"], server.describe()
    [worker_events] = stopped.values()
    assert worker_events == ["enter", "startup", "shutdown", "exit"], server.describe()


def test_gunicorn_config_can_start_the_app_when_the_worker_boots(tmp_path, marks):
    with running("gunicorn-gthread", APP, tmp_path, *BOOT_CONFIG) as server:
        deadline = time.monotonic() + WAIT
        while len(read_marks(marks)) < 2:  # no request was sent
            assert time.monotonic() < deadline, server.describe()
            time.sleep(0.05)
        assert [event for event, _ in read_marks(marks)] == ["enter", "startup"]
        with server.client() as client:
            assert client.get("/").text == "ready", server.describe()
    assert [event for event, _ in read_marks(marks)] == ["enter", "startup", "shutdown", "exit"]


# -- background tasks --------------------------------------------------------------------

TASK_SERVERS = ["uvicorn", "gunicorn-asgi", "gunicorn-sync", "gunicorn-gthread", "granian-wsgi"]


@pytest.fixture(scope="module")
def module_marks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("marks") / "marks"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DUALWEB_TEST_MARKS", str(path))
        yield path


def wait_for_mark(path: Path, event: str, server: Server) -> list[str]:
    deadline = time.monotonic() + WAIT
    while True:
        events = [e for e, _ in read_marks(path)]
        if event in events:
            return events
        assert time.monotonic() < deadline, f"no {event!r} in {events}: {server.describe()}"
        time.sleep(0.02)


@pytest.mark.parametrize("name", TASK_SERVERS)
@pytest.mark.parametrize("path", ["/task", "/async-task"])
def test_task_runs_after_the_client_has_the_response(servers: Servers, module_marks, name, path):
    server = servers.get(name, APP)
    task_id = uuid.uuid4().hex
    with server.client() as client:
        # Were the task run before the response was sent, this would wait
        # for it to give up, and the marks would say so.
        assert client.get(f"{path}/{task_id}").text == "sent", server.describe()
    events = wait_for_mark(module_marks, f"task-started-{task_id}", server)
    assert f"task-released-{task_id}" not in events
    assert f"task-gave-up-{task_id}" not in events
    Path(f"{module_marks}.release-{task_id}").touch()
    events = wait_for_mark(module_marks, f"task-released-{task_id}", server)
    assert f"task-gave-up-{task_id}" not in events


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-sync"])
def test_failing_task_is_logged_and_the_worker_serves_on(servers: Servers, module_marks, name):
    server = servers.get(name, APP)
    with server.client() as client:
        assert client.get("/failing-task").text == "sent", server.describe()
        assert client.get("/").text == "ready", server.describe()
    deadline = time.monotonic() + WAIT
    while "RuntimeError: the task failed" not in server.log():
        assert time.monotonic() < deadline, server.describe()
        time.sleep(0.05)
    assert "Exception in background task" in server.log()
    assert server.process.poll() is None  # still serving
