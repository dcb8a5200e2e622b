"""Starting and stopping real servers for the tests: free loopback port,
bounded waits, output captured to a file, whole process group stopped by PID.

Each server runs as ``python -m <server>`` with this interpreter, from the
project root, in its own session. The ``servers`` fixture (in conftest.py)
starts each (server, app) pair once per test module.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

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


def spawn_server(name: str, app: str, log_dir: Path, *options: str) -> Server:
    """Start server ``name`` without waiting for it; ``options`` go before the app argument."""
    port = free_port()
    *argv, app_argument = (arg.format(app=app, port=port) for arg in SERVERS[name])
    return spawn_command(name, app, [*argv, *options, app_argument], port, log_dir)


def spawn_command(name: str, app: str, argv: list[str], port: int, log_dir: Path) -> Server:
    """Start ``python -m`` + ``argv``, a server of ``app`` on ``port``, without waiting for it."""
    argv = [sys.executable, "-m", *argv]
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
    return Server(name, app, argv, f"http://{HOST}:{port}", process, log_path)


def start_server(name: str, app: str, log_dir: Path, *options: str) -> Server:
    """Start server ``name`` (``options`` appended to its command) and wait until it
    answers HTTP."""
    server = spawn_server(name, app, log_dir, *options)
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
