"""Real servers over real sockets: ``examples/hello.py``, unchanged, under every
WSGI and ASGI server dualweb supports, talked to with httpx on 127.0.0.1.

Each server runs as ``python -m <server>`` with this interpreter, from the
project root, in its own session (so the whole process group is stopped by
PID), on a free loopback port, with its output captured to a file that every
failure message quotes. A server starts once per module, on first use, and
all of them stop when the module ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0

HELLO = "examples.hello:app"
SLOW = "tests.server_apps.slow:app"

# gunicorn >= 25.1 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl by default: one path shared by every gunicorn of
# the user, so parallel instances would take it from each other.
_GUNICORN = ["gunicorn", "--bind", HOST + ":{port}", "--workers", "1", "--no-control-socket"]
_GRANIAN = ["granian", "--host", HOST, "--port", "{port}", "--workers", "1"]

#: How to start each server: ``python -m`` + these arguments ({app}, {port} filled in).
SERVERS: dict[str, list[str]] = {
    "gunicorn-sync": [*_GUNICORN, "{app}"],
    "gunicorn-gthread": [*_GUNICORN, "-k", "gthread", "--threads", "4", "{app}"],
    "gunicorn-asgi": [*_GUNICORN, "-k", "asgi", "{app}"],
    "gunicorn-uvicorn-worker": [*_GUNICORN, "-k", "uvicorn_worker.UvicornWorker", "{app}"],
    # No --interface: uvicorn's auto-detection has to choose ASGI 3 by itself.
    "uvicorn": ["uvicorn", "--host", HOST, "--port", "{port}", "{app}"],
    "granian-wsgi": [*_GRANIAN, "--interface", "wsgi", "{app}"],
    "granian-asgi": [*_GRANIAN, "--interface", "asgi", "{app}"],
}
WSGI_SERVERS = ["gunicorn-sync", "gunicorn-gthread", "granian-wsgi"]

#: The line each server logs when it (re)starts a worker process.
_WORKER_BOOT = {
    "gunicorn": re.compile(r"Booting worker with pid"),
    "granian": re.compile(r"Spawning worker-\d+ with PID"),
}


# -- starting and stopping servers -------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env() -> dict[str, str]:
    """This environment, minus what would reconfigure a server behind the test's back."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GUNICORN_", "UVICORN_", "GRANIAN_"))
        and key not in ("WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Server:
    name: str
    app: str
    argv: list[str]
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self) -> httpx.Client:
        # trust_env=False: no proxy from the environment, only the loopback server.
        return httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT, trust_env=False)

    def describe(self) -> str:
        return f"{self.name} ({' '.join(self.argv[1:])})\n--- server output ---\n{self.log()}"

    def worker_boots(self) -> int:
        pattern = _WORKER_BOOT[self.name.split("-")[0]]
        return len(pattern.findall(self.log()))


def start_server(name: str, app: str, log_dir: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", *(arg.format(app=app, port=port) for arg in SERVERS[name])]
    log_path = log_dir / f"{name}-{app.split(':')[0]}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=server_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, app, argv, f"http://{HOST}:{port}", process, log_path)
    try:
        wait_until_answering(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_until_answering(server: Server) -> None:
    """Poll until the server answers any HTTP request, for at most STARTUP_TIMEOUT."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=server.url, timeout=1.0, trust_env=False) as client:
        while True:
            status = server.process.poll()
            if status is not None:
                pytest.fail(f"exited with status {status} before answering: {server.describe()}")
            try:
                client.get("/")
            except httpx.TransportError:
                pass
            else:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"no answer within {STARTUP_TIMEOUT} s: {server.describe()}")
            time.sleep(0.05)


def terminate(server: Server) -> None:
    """SIGTERM the server's process group (its session, led by the process we started)."""
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)


def stop_server(server: Server, *, terminated: bool = False) -> None:
    """SIGTERM the server's process group; SIGKILL it if it is not gone within STOP_TIMEOUT."""
    if not terminated:
        terminate(server)
    try:
        server.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(STOP_TIMEOUT)
        warnings.warn(
            f"{server.name} ignored SIGTERM for {STOP_TIMEOUT} s and was killed",
            stacklevel=1,
        )


class Servers:
    """The servers of this module: each started on first use, all stopped at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[tuple[str, str], Server] = {}
        self.failed: dict[tuple[str, str], str] = {}

    def get(self, name: str, app: str = HELLO) -> Server:
        key = (name, app)
        if key in self.failed:  # fail fast instead of waiting STARTUP_TIMEOUT per test
            pytest.fail(self.failed[key])
        if key not in self.running:
            try:
                self.running[key] = start_server(name, app, self.log_dir)
            except pytest.fail.Exception as exc:
                self.failed[key] = str(exc)
                raise
        return self.running[key]

    def stop_all(self) -> None:
        # Signal them all first, so that they shut down in parallel.
        for server in self.running.values():
            terminate(server)
        for server in self.running.values():
            stop_server(server, terminated=True)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pool = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(params=list(SERVERS))
def hello(request: pytest.FixtureRequest, servers: Servers) -> Server:
    """examples/hello.py served by each server in turn."""
    return servers.get(request.param)


# -- examples/hello.py, everywhere -------------------------------------------------------


def test_index(hello: Server) -> None:
    with hello.client() as client:
        response = client.get("/")
    assert response.status_code == 200, hello.describe()
    assert response.content == b"Hello, World!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "13"


def test_async_handler_with_int_parameter(hello: Server) -> None:
    with hello.client() as client:
        response = client.get("/users/42")
    assert response.status_code == 200, hello.describe()
    assert response.json() == {"id": 42}
    assert response.content == b'{"id":42}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))


def test_head_has_get_headers_and_no_body(hello: Server) -> None:
    with hello.client() as client:
        get = client.get("/")
        head = client.head("/")
    assert head.status_code == 200, hello.describe()
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == "13"
    assert head.headers["content-type"] == get.headers["content-type"]


@pytest.mark.parametrize("path", ["/echo", "/aecho"])
def test_json_echo_keeps_non_ascii(hello: Server, path: str) -> None:
    body = '{"name": "Zoë"}'.encode()
    with hello.client() as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, hello.describe()
    assert response.json() == {"name": "Zoë"}
    # Compact UTF-8 JSON, byte for byte: "ë" crossed the server both ways unharmed.
    assert response.content == '{"name":"Zoë"}'.encode()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content)) == "15"


@pytest.mark.parametrize("path", ["/nowhere", "/users/abc", "/users/"])
def test_not_found(hello: Server, path: str) -> None:
    with hello.client() as client:
        response = client.get(path)
    assert response.status_code == 404, hello.describe()
    assert response.text == "Not Found"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/echo", {"POST", "OPTIONS"}),
        ("PUT", "/aecho", {"POST", "OPTIONS"}),
        ("POST", "/", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/users/7", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    hello: Server, method: str, path: str, allowed: set[str]
) -> None:
    with hello.client() as client:
        response = client.request(method, path)
    assert response.status_code == 405, hello.describe()
    assert set(response.headers["allow"].split(", ")) == allowed
    assert response.text == "Method Not Allowed"


@pytest.mark.parametrize("name", WSGI_SERVERS)
def test_async_handler_repeatedly_on_one_wsgi_worker(servers: Servers, name: str) -> None:
    """An async handler under WSGI runs on its worker thread's persistent loop:
    the loop must still be usable for the next request on the same worker."""
    server = servers.get(name)
    boots = server.worker_boots()
    assert boots == 1, server.describe()
    with server.client() as client:
        first = client.get("/users/1")
        second = client.get("/users/2")
        echoed = [client.post("/aecho", json={"n": n}).json() for n in range(3)]
        third = client.get("/users/3")
    assert (first.status_code, first.json()) == (200, {"id": 1}), server.describe()
    assert (second.status_code, second.json()) == (200, {"id": 2}), server.describe()
    assert (third.status_code, third.json()) == (200, {"id": 3}), server.describe()
    assert echoed == [{"n": 0}, {"n": 1}, {"n": 2}]
    # One worker process (--workers 1), never restarted: the same worker answered all.
    assert server.worker_boots() == boots, server.describe()


def test_uvicorn_autodetects_asgi3(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    server = servers.get("uvicorn")
    assert not any(arg.startswith("--interface") for arg in server.argv)
    with server.client() as client:
        assert client.get("/users/5").json() == {"id": 5}
    log = server.log()
    # Under ASGI 2, App(scope) would fail: lifespan "unsupported", then 500s.
    assert "Application startup complete." in log, server.describe()
    assert "unsupported" not in log, server.describe()

    # And what uvicorn decides, asked directly.
    monkeypatch.syspath_prepend(str(ROOT))
    config = uvicorn.Config(HELLO, log_config=None)
    config.load()
    assert config.interface == "asgi3"


# -- sync handlers under ASGI run in dualweb's thread pool --------------------------------

CONCURRENT_REQUESTS = 50


async def _concurrent_gets(url: str, path: str, count: int) -> tuple[list[httpx.Response], float]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(
        base_url=url, timeout=REQUEST_TIMEOUT, trust_env=False, limits=limits
    ) as client:
        warm_up = await client.get(path)
        warm_up.raise_for_status()
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get(path) for _ in range(count)))
        elapsed = time.perf_counter() - started
    return list(responses), elapsed


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-asgi"])
def test_blocking_sync_handler_does_not_serialise_requests(servers: Servers, name: str) -> None:
    """50 concurrent requests to a sync handler that sleeps 0.2 s: answered within 1 s."""
    server = servers.get(name, SLOW)
    responses, elapsed = asyncio.run(_concurrent_gets(server.url, "/sleep", CONCURRENT_REQUESTS))
    assert [r.status_code for r in responses] == [200] * CONCURRENT_REQUESTS, server.describe()
    threads = [r.json()["thread"] for r in responses]
    assert all(thread.startswith("dualweb-sync") for thread in threads), threads
    assert 0.2 <= elapsed < 1.0, (
        f"{CONCURRENT_REQUESTS} concurrent 0.2 s requests took {elapsed:.3f} s on {name} "
        f"({len(set(threads))} distinct pool threads)"
    )


# -- last: nothing went wrong on the server side ----------------------------------------------


@pytest.mark.parametrize("name", list(SERVERS))
def test_no_errors_in_server_output(servers: Servers, name: str) -> None:
    server = servers.get(name)
    log = server.log()
    for sign in ("Traceback", "Exception in", "[ERROR]", "ERROR:", "unsupported"):
        assert sign not in log, server.describe()
