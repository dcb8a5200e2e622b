"""Real servers for the benchmark scripts: start and stop them, read their memory from /proc."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    app: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def measured_pid(self) -> int:
        """The process that serves requests: uvicorn itself, gunicorn's worker."""
        if not self.name.startswith("gunicorn"):
            return self.process.pid
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            children = _children(self.process.pid)
            if children:
                return children[0]
            time.sleep(0.1)
        raise SystemExit("gunicorn started no worker")


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if listed:
            return [int(child) for child in listed]
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def start(
    name: str, command: list[str], app: str, log_dir: Path, cpu: int | None = None
) -> Server:
    """Run ``python -m <command> <app>`` (``{port}`` in ``command`` filled in) from the
    project root, its output to a log in ``log_dir``; return once it answers ``GET /``.

    ``cpu``: pin the server (and the workers it forks) to that CPU."""
    port = free_port()
    argv = [sys.executable, "-m", *(arg.format(port=port) for arg in command), app]
    log = (log_dir / f"{name.split()[0]}-{app.rpartition(':')[2]}-{port}.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "UVICORN_"))}
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=None if cpu is None else pin_to(cpu),
    )
    server = Server(name, app, port, process, log)
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/")
            connection.getresponse().read()
            connection.close()
            return server
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(server)
                raise SystemExit(f"{name} did not start; see {log.name}") from None
            time.sleep(0.1)


def pin_to(cpu: int) -> Callable[[], None]:
    """A ``preexec_fn`` that pins the child process to ``cpu``."""

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


def stop(server: Server) -> None:
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(5)
    server.log.close()


# -- memory -----------------------------------------------------------------------------


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- the report footer ------------------------------------------------------------------


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def uvicorn_picks() -> tuple[str, str]:
    """What uvicorn picks for HTTP parsing and the event loop."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return http, loop
