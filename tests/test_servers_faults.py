"""Faults under real servers: clients that leave, blocking handlers, SIGTERM, exceptions.

The app is tests/server_apps/faults_app.py. Each server runs with its own
TMPDIR, so that the temporary files of spooled uploads can be found: their
descriptors in /proc/<worker>/fd point into that directory (uploads use
anonymous temporary files, which have no name to list).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_apps.faults_app import FAULTS, SPOOL_THRESHOLD
from serverkit import HOST, Server, spawn_server, stop_server, wait_until_answering

from dualweb.uploads import WRITE_BATCH

pytestmark = pytest.mark.servers

APP = "tests.server_apps.faults_app:app"
SERVERS = ["uvicorn", "gunicorn-sync", "gunicorn-asgi"]
ASGI_SERVERS = ["uvicorn", "gunicorn-asgi"]
#: Bound of every wait for the server to settle.
WAIT = 10.0
#: An upload past the spool threshold goes to a temporary file, written in
#: batches of WRITE_BATCH: two thirds of this one are on disk.
UPLOAD_SIZE = SPOOL_THRESHOLD + 3 * WRITE_BATCH
BOUNDARY = "faultsboundary"


# -- servers with their own TMPDIR --------------------------------------------------------


@contextlib.contextmanager
def running(name: str, directory: Path, *options: str) -> Iterator[Server]:
    """Server ``name`` serving the faults app, with TMPDIR and the marks file in ``directory``."""
    tmp = directory / "tmp"
    tmp.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        # serverkit passes this process's environment on to the server.
        patch.setenv("TMPDIR", str(tmp))
        patch.setenv("DUALWEB_TEST_MARKS", str(directory / "marks"))
        if name.startswith("gunicorn"):
            # Its workers' heartbeat files would be open files in TMPDIR.
            options = ("--worker-tmp-dir", str(directory), *options)
        server = spawn_server(name, APP, directory, *options)
    try:
        wait_until_answering(server)
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def faults_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """One server of each kind for the module, started on first use."""
    with contextlib.ExitStack() as stack:

        class Lazy(dict[str, Server]):
            def __missing__(self, name: str) -> Server:
                directory = tmp_path_factory.mktemp(name)
                server = self[name] = stack.enter_context(running(name, directory))
                return server

        yield Lazy()


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as exits:
        yield exits


def tmpdir_of(server: Server) -> Path:
    return server.log_path.parent / "tmp"


def worker_pid(server: Server) -> int:
    """The process that runs the app: the server itself, or gunicorn's only worker."""
    pid = server.process.pid
    if not server.name.startswith("gunicorn"):
        return pid
    deadline = time.monotonic() + WAIT
    while True:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        assert time.monotonic() < deadline, server.describe()
        time.sleep(0.05)


def temp_files_open(server: Server, pid: int | None = None) -> set[str]:
    """The worker's open files that lie in its TMPDIR."""
    pid = worker_pid(server) if pid is None else pid
    prefix = str(tmpdir_of(server)) + "/"
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            target = os.readlink(fd)
            if target.startswith(prefix):
                found.add(f"{fd.name} {target}")
    return found


def wait_for(condition: Callable[[], bool], what: str, server: Server) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {WAIT} s: {server.describe()}"
        time.sleep(0.02)


def debug(client: httpx.Client) -> dict[str, Any]:
    """The worker's threads and tasks, asked on ``client``'s connection.

    Always the same connection: a server keeps a task per open connection
    for a while, gunicorn's asgi worker for its keep-alive time.
    """
    return client.get("/debug").json()  # type: ignore[no-any-return]


# -- raw requests that stop half-way ------------------------------------------------------


def connect(server: Server) -> socket.socket:
    port = int(server.url.rpartition(":")[2])
    return socket.create_connection((HOST, port), timeout=WAIT)


def leave(sock: socket.socket, how: str) -> None:
    """Close the connection: a FIN, or a reset (SO_LINGER with a zero timeout)."""
    if how == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def multipart_upload(size: int = UPLOAD_SIZE) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + b"x" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


def post_head(path: str, content_type: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of a Content-Length response (the app's JSON answers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {body!r}"
        body += chunk
    return int(lines[0].split()[1]), body


def half_upload(server: Server, path: str, how: str) -> None:
    """Send two thirds of a spooling upload, see its temporary file open, then leave."""
    body = multipart_upload()
    sock = connect(server)
    sock.sendall(post_head(path, f"multipart/form-data; boundary={BOUNDARY}", len(body)))
    try:
        sock.sendall(body[: len(body) * 2 // 3])
        # Proof that the checks after can fail: the upload is in a temporary file.
        wait_for(lambda: bool(temp_files_open(server)), "no temporary file opened", server)
    finally:
        leave(sock, how)


def half_json(server: Server, path: str, how: str) -> None:
    sock = connect(server)
    sock.sendall(post_head(path, "application/json", 10_000) + b'{"key": "val')
    time.sleep(0.05)  # the handler waits for the rest
    leave(sock, how)


def half_form(server: Server, path: str, how: str) -> None:
    sock = connect(server)
    sock.sendall(post_head(path, "application/x-www-form-urlencoded", 10_000) + b"a=1&b=")
    time.sleep(0.05)
    leave(sock, how)


def half_stream(server: Server, path: str, how: str) -> None:
    """Start reading an endless stream, then leave."""
    sock = connect(server)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    received = b""
    while not received.partition(b"\r\n\r\n")[2]:  # the headers and some body
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received
    leave(sock, how)


DISCONNECTS: dict[str, tuple[Callable[[Server, str, str], None], str]] = {
    "upload": (half_upload, "/upload"),
    "async-upload": (half_upload, "/aupload"),
    "json": (half_json, "/json"),
    "async-form": (half_form, "/aform"),
    "stream": (half_stream, "/stream"),
    "async-stream": (half_stream, "/astream"),
    "event-source": (half_stream, "/events"),
}


@pytest.mark.parametrize("case", list(DISCONNECTS))
@pytest.mark.parametrize("name", SERVERS)
def test_client_leaving_half_way_leaks_nothing(
    faults_servers: dict[str, Server], name: str, case: str, stack: contextlib.ExitStack
) -> None:
    server = faults_servers[name]
    send_half, path = DISCONNECTS[case]
    streams = path in ("/stream", "/astream", "/events")
    # Once first: what a server or the app starts on first use is then in the baseline.
    send_half(server, path, "close")
    wait_for(lambda: not temp_files_open(server), "the temporary file is still open", server)
    client = stack.enter_context(server.client())
    before = debug(client)
    log_before = len(server.log().splitlines())
    for how in ("close", "reset"):
        send_half(server, path, how)

    def settled() -> bool:
        now = debug(client)
        return (
            now["threads"] <= before["threads"]
            and now["pool_busy"] == 0
            and now["tasks"] <= before["tasks"]
            and (not streams or now["closed"] == before["closed"] + 2)
        )

    # No thread still at work for a client that left (the pool may have grown,
    # its size is bounded), no task left on the loop, every stream closed.
    wait_for(settled, f"threads, tasks or streams not back to {before}", server)
    wait_for(lambda: not temp_files_open(server), "the temporary file is still open", server)
    assert list(tmpdir_of(server).iterdir()) == []
    new_lines = server.log().splitlines()[log_before:]
    # uvicorn's access line for the request, or nothing; /debug's own lines aside.
    lines = [line for line in new_lines if "/debug" not in line]
    assert len(lines) <= 2, server.describe()
    assert "Traceback" not in "\n".join(new_lines), server.describe()
    assert client.get("/").text == "ok"


def test_reset_while_reading_the_body_is_a_client_disconnect_under_gunicorn(
    faults_servers: dict[str, Server],
) -> None:
    """gunicorn's wsgi.input raises ConnectionResetError: a 400 for nobody, not a 500."""
    server = faults_servers["gunicorn-sync"]
    log_before = len(server.log())
    half_json(server, "/json", "reset")
    with server.client() as client:
        assert client.get("/").text == "ok"
    assert "Exception in handler" not in server.log()[log_before:], server.describe()


# -- a blocking sync handler under ASGI ---------------------------------------------------


@pytest.mark.parametrize("name", ASGI_SERVERS)
def test_blocking_sync_handler_leaves_the_loop_free(
    faults_servers: dict[str, Server], name: str
) -> None:
    server = faults_servers[name]
    slow: dict[str, Any] = {}

    def call_slow() -> None:
        with server.client() as client:
            slow["response"] = client.get("/slow", params={"seconds": "3"})

    thread = threading.Thread(target=call_slow)
    thread.start()
    try:
        answered = []
        with server.client() as client:
            wait_for(lambda: debug(client)["slow"] == 1, "/slow never started", server)
            for _ in range(5):
                started = time.perf_counter()
                response = client.get("/clock")
                answered.append((response.json()["now"], time.perf_counter() - started))
                assert response.status_code == 200
            # All answered while the blocking handler still runs, in a pool thread.
            now = debug(client)
            assert (now["slow"], now["pool_busy"]) == (1, 1), server.describe()
        assert thread.is_alive()
    finally:
        thread.join(WAIT)
    assert slow["response"].status_code == 200, server.describe()
    result = slow["response"].json()
    assert all(result["started"] < now < result["ended"] for now, _ in answered)
    latencies = ", ".join(f"{latency * 1000:.1f}" for _, latency in answered)
    print(f"{name}: /clock while /slow blocks a thread: {latencies} ms")


# -- exceptions ---------------------------------------------------------------------------

ANSWERED_500 = ["handler", "async-handler", "before", "after", "error-handler"]
STREAMS = ["stream-start", "stream-mid", "async-stream-start", "async-stream-mid"]
TASKS = ["task", "async-task"]


@pytest.mark.parametrize("kind", ANSWERED_500 + STREAMS + TASKS)
@pytest.mark.parametrize("name", SERVERS)
def test_exception_is_answered_logged_once_and_the_worker_serves_on(
    faults_servers: dict[str, Server], name: str, kind: str
) -> None:
    server = faults_servers[name]
    message = FAULTS[kind]
    before = server.log().count(message)
    with server.client() as client:
        if kind in ANSWERED_500:
            response = client.get(f"/fail/{kind}")
            assert (response.status_code, response.text) == (500, "Internal Server Error")
        elif kind in TASKS:
            assert client.get(f"/fail/{kind}").text == "sent"
        else:
            try:
                response = client.get(f"/fail/{kind}")
            except httpx.RemoteProtocolError:
                pass  # headers sent, body cut short
            else:
                # gunicorn's sync worker had sent nothing yet: it answers 500 itself.
                assert (name, kind.endswith("-start")) == ("gunicorn-sync", True)
                assert response.status_code == 500
        assert client.get("/").text == "ok"
    wait_for(lambda: server.log().count(message) > before, f"{message} never logged", server)
    time.sleep(0.1)  # a second report would come right after the first
    assert server.log().count(message) == before + 1, server.describe()


# -- SIGTERM with requests in flight ------------------------------------------------------

GRACEFUL = {
    "uvicorn": (),
    # Two sync workers: one sleeps, the other takes the upload.
    "gunicorn-sync": ("--workers", "2"),
    "gunicorn-asgi": (),
}


def all_workers(server: Server) -> list[int]:
    pid = server.process.pid
    if not server.name.startswith("gunicorn"):
        return [pid]
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.parametrize("name", list(GRACEFUL))
def test_sigterm_lets_requests_in_flight_finish(name: str, tmp_path: Path) -> None:
    with running(name, tmp_path, *GRACEFUL[name]) as server:
        if name == "gunicorn-sync":
            wait_for(lambda: len(all_workers(server)) == 2, "two workers", server)
        slow: dict[str, Any] = {}

        def call_slow() -> None:
            with server.client() as client:
                slow["response"] = client.get("/slow", params={"seconds": "1.5"})

        thread = threading.Thread(target=call_slow)
        thread.start()
        try:
            wait_for(lambda: "slow-start" in _marks(tmp_path), "/slow never started", server)
            body = multipart_upload()
            sock = connect(server)
            sock.sendall(
                post_head("/upload", f"multipart/form-data; boundary={BOUNDARY}", len(body))
            )
            sock.sendall(body[: len(body) // 2])

            def spooled() -> bool:
                return any(temp_files_open(server, pid) for pid in all_workers(server))

            wait_for(spooled, "no temporary file for the upload", server)
            server.process.send_signal(signal.SIGTERM)  # the master only, as docker does
            assert thread.is_alive(), "/slow was over before the SIGTERM"
            wait_for(lambda: _shutting_down(server), "no sign of the SIGTERM", server)
            sock.sendall(body[len(body) // 2 :])
            status, answer = read_response(sock)
            sock.close()
            assert (status, answer) == (200, f'{{"file":{UPLOAD_SIZE}}}'.encode()), (
                server.describe()
            )
        finally:
            thread.join(WAIT)
        assert slow["response"].status_code == 200, server.describe()
        try:
            server.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {WAIT} s after SIGTERM: {server.describe()}")
    events = [line.split()[0] for line in _marks(tmp_path).splitlines()]
    assert "shutdown" in events, server.describe()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert "Traceback" not in server.log(), server.describe()


def _marks(directory: Path) -> str:
    path = directory / "marks"
    return path.read_text() if path.exists() else ""


def _shutting_down(server: Server) -> bool:
    log = server.log()
    return "Shutting down" in log or "Handling signal: term" in log
