"""Real servers for the benchmark scripts: start and stop them, read their memory from /proc."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
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
from typing import IO, Any

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


def server_and_client_cpus() -> tuple[int | None, int | None]:
    """Two CPUs this process may use, (server's, load generator's), or (None, None)
    when there is only one: then nothing is pinned."""
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else (None, None)


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


# -- load: wrk ----------------------------------------------------------------------------

WRK_SCRIPT = ROOT / "benchmarks" / "wrk" / "report.lua"
CLIENT_CPU = 1  # where wrk runs unless told otherwise; servers go to CPU 0


def start_wrk(
    url: str,
    connections: int,
    duration: int,
    *,
    method: str = "GET",
    body: Path | None = None,
    content_type: str | None = None,
    cpu: int | None = CLIENT_CPU,
    script: Path = WRK_SCRIPT,
    timeout: int | None = None,
) -> subprocess.Popen[str]:
    """Start one wrk thread with ``connections`` connections on ``url`` for ``duration``
    seconds, pinned to ``cpu`` (None: not pinned); read its figures with :func:`wrk_result`.

    ``body``: a file whose bytes are sent as the body of every request. ``script``:
    another Lua script (which reports its own way); ``timeout``: seconds after which
    an answer counts as a timeout error (wrk's default: 2)."""
    env = {
        **os.environ,
        "WRK_METHOD": method,
        "WRK_BODY_FILE": str(body) if body is not None else "",
        "WRK_CONTENT_TYPE": content_type or "",
    }
    command = [
        *("wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"),
        *(() if timeout is None else (f"--timeout={timeout}s",)),
        *("-s", str(script), url),
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=None if cpu is None else pin_to(cpu),
    )


def wrk_result(process: subprocess.Popen[str], duration: int) -> dict[str, float]:
    """Wait for a wrk started by :func:`start_wrk`: req/s (``rate``), ``p50`` and ``p99``
    latency in ms, socket ``errors`` (connect, read, write, timeout), ``non_2xx``
    (wrk counts statuses >= 400), completed ``requests``."""
    try:
        output, errors = process.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise SystemExit("wrk did not finish") from None
    line = next((line for line in output.splitlines() if line.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({process.returncode}): {errors.strip() or output}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    seconds = figures["duration_us"] / 1e6
    return {
        "rate": figures["requests"] / seconds if seconds else 0.0,
        "p50": figures["p50_us"] / 1e3,
        "p99": figures["p99_us"] / 1e3,
        "errors": figures["connect"] + figures["read"] + figures["write"] + figures["timeout"],
        "non_2xx": figures["status"],
        "requests": figures["requests"],
    }


def run_wrk(url: str, connections: int, duration: int, **options: Any) -> dict[str, float]:
    """:func:`start_wrk` then :func:`wrk_result`."""
    return wrk_result(start_wrk(url, connections, duration, **options), duration)


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
