"""Load and soak: dualweb under real servers, kept busy with a mix of requests, must lose
nothing and not grow.

Run from the project root (starts its own servers on 127.0.0.1; needs ``wrk``,
``apt-get install wrk``)::

    python benchmarks/soak.py                    # 256 connections, 60 s per server: ~3.5 min
    python benchmarks/soak.py --json soak.json   # also the figures as JSON
    python benchmarks/soak.py --duration 10 --connections 64 --servers uvicorn

``benchmarks/soak_app.py`` runs under each server of ``--servers`` (one worker,
pinned to one CPU; the load generators on another):

* ``uvicorn``: ASGI;
* ``gunicorn-gthread``: WSGI, gunicorn's threaded sync worker (``-k gthread``,
  ``--threads`` threads): the plain sync worker serves one connection at a
  time and closes it after each request, so it cannot hold 256 connections;
* ``gunicorn-asgi``: ASGI, gunicorn's own ASGI worker (``-k asgi``).

For ``--duration`` seconds, ``--connections`` connections send requests back
to back: wrk (one thread, ``benchmarks/wrk/soak.lua``) mixes plaintext, a JSON
echo, url-encoded forms, multipart uploads of three small files, sync and
async streamed responses, and a deliberate 404 (5 %, counted apart); under
the ASGI servers a ``--ws-share`` of the connections are WebSockets (the
``websockets`` client, in this process) sending messages of 16 B to 4 KiB,
text and binary, and checking each echo.

Per server it reports the requests (HTTP answers + WebSocket round trips),
the errors (wrk's socket errors and timeouts, failed or mismatched
WebSocket echoes), the non-2xx answers other than the intended 404, HTTP
and WebSocket p50/p99 latency, the error lines in the server's output, and
the RSS of the server's worker processes (summed; VmRSS) after the warm-up
(the first 10 % of the run) and at the end. Targets: no error, no
unintended non-2xx, no error in the server's output, at least
``--min-requests`` requests, RSS growth under ``--max-growth-mb``. The
Markdown table goes to stdout, the progress to stderr; the exit status is 1
if any target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import machine_info
from _servers import (
    HOST,
    ROOT,
    Server,
    _children,
    server_and_client_cpus,
    start,
    start_wrk,
    status_kib,
    stop,
    version,
)
from bench_websockets import raise_open_file_limit
from websockets.asyncio.client import connect

APP = "benchmarks.soak_app:app"
WRK_SCRIPT = ROOT / "benchmarks" / "wrk" / "soak.lua"
_GUNICORN = [
    *("gunicorn", "--bind", f"{HOST}:{{port}}", "--workers", "1"),
    *("--no-control-socket", "--log-level", "warning"),
]
#: name: (interface, ``python -m`` arguments before the app; {port} and {threads} filled in)
SERVERS: dict[str, tuple[str, list[str]]] = {
    "uvicorn": ("ASGI", ["uvicorn", "--host", HOST, "--port", "{port}", "--log-level", "warning"]),
    "gunicorn-gthread": ("WSGI", [*_GUNICORN, "-k", "gthread", "--threads", "{threads}"]),
    "gunicorn-asgi": ("ASGI", [*_GUNICORN, "-k", "asgi"]),
}
WARM_UP = 0.1  # share of the run before the start RSS is read
WRK_TIMEOUT = 10  # s: an answer slower than this counts as a timeout error
WS_TIMEOUT = 10.0  # s: an echo slower than this counts as an error
WS_SIZES = (16, 256, 1024, 4096)
# What a server's output may show when something went wrong in a request.
LOG_PROBLEM = re.compile(r"Traceback|Exception|\bERROR\b|\[CRITICAL\]|Worker .*(timeout|died)")
MB = 1024 * 1024


# -- the HTTP load: wrk ---------------------------------------------------------------------


def wrk_figures(process: subprocess.Popen[str], duration: int) -> dict[str, Any]:
    """The SOAK_JSON line of a wrk started by :func:`start_wrk`."""
    try:
        output, errors = process.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise SystemExit("wrk did not finish") from None
    line = next((line for line in output.splitlines() if line.startswith("SOAK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({process.returncode}): {errors.strip() or output}")
    figures: dict[str, Any] = json.loads(line.removeprefix("SOAK_JSON "))
    return figures


# -- the WebSocket load ---------------------------------------------------------------------


@dataclass
class WebSocketLoad:
    round_trips: int = 0
    errors: int = 0  # failed connections, lost or mismatched echoes
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)  # seconds

    def fail(self, what: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = what


async def echo_until(url: str, deadline: float, number: int, load: WebSocketLoad) -> None:
    """One connection: messages back to back until ``deadline``, each echo checked."""
    sent = 0
    try:
        async with connect(url, open_timeout=WS_TIMEOUT, compression=None, max_size=MB) as ws:
            while time.monotonic() < deadline:
                size = WS_SIZES[(number + sent) % len(WS_SIZES)]
                text = f"{number}:{sent}:".ljust(size, "x")
                message: str | bytes = text if sent % 2 else text.encode()
                started = time.perf_counter()
                await ws.send(message)
                echo = await asyncio.wait_for(ws.recv(), WS_TIMEOUT)
                load.latencies.append(time.perf_counter() - started)
                if echo != message:
                    load.fail(f"connection {number}: message {sent} came back altered")
                    return
                load.round_trips += 1
                sent += 1
    except Exception as exc:  # every failure is counted and reported, not raised
        load.fail(f"connection {number}, after {sent} messages: {exc!r}")


# -- memory ---------------------------------------------------------------------------------


def worker_pids(server: Server) -> list[int]:
    """The processes that serve requests: uvicorn itself, gunicorn's workers."""
    if server.name == "uvicorn":
        return [server.process.pid]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = _children(server.process.pid)
        if children:
            return children
        time.sleep(0.1)
    raise SystemExit(f"{server.name} started no worker")


def rss_kib(pids: list[int]) -> int:
    return sum(status_kib(pid, "VmRSS") for pid in pids)


# -- one server -----------------------------------------------------------------------------


@dataclass
class Run:
    """What one server did under the soak."""

    server: str
    interface: str
    command: str
    http_connections: int
    ws_connections: int
    wrk: dict[str, Any]
    ws: WebSocketLoad
    rss_kib: list[tuple[float, int]]  # (seconds since the start, KiB), every second
    rss_start_kib: int
    rss_end_kib: int
    log_problems: list[str]


def check_answers(server: Server, ws_url: str | None) -> None:
    """One request of each kind before the load: a wrong app fails here, not in 60 s."""
    expected = {
        ("GET", "/plaintext"): 200,
        ("GET", "/stream"): 200,
        ("GET", "/astream"): 200,
        ("GET", "/missing"): 404,
        ("POST", "/json"): 200,
        ("POST", "/form"): 200,
    }
    bodies = {
        "/json": (b'{"name": "check", "items": [1, 2]}', "application/json"),
        "/form": (b"field0=a&field1=b", "application/x-www-form-urlencoded"),
    }
    for (method, path), status in expected.items():
        connection = http.client.HTTPConnection(HOST, server.port, timeout=30)
        body, content_type = bodies.get(path, (None, None))
        headers = {"Content-Type": content_type} if content_type else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        connection.close()
        if response.status != status:
            raise SystemExit(
                f"{server.name}: {method} {path} answered {response.status} {answer!r}"
            )
    if ws_url is not None:
        load = WebSocketLoad()
        asyncio.run(echo_until(ws_url, time.monotonic() + 0.2, 0, load))
        if load.errors or not load.round_trips:
            raise SystemExit(f"{server.name}: WebSocket echo failed: {load.first_error}")


async def drive(
    server: Server, options: argparse.Namespace, ws_url: str | None, ws_connections: int
) -> tuple[WebSocketLoad, list[tuple[float, int]], int, float]:
    """The WebSocket clients and the RSS readings, while wrk runs: the readings every
    second, and the one after the warm-up."""
    pids = worker_pids(server)
    started = time.monotonic()
    deadline = started + options.duration
    load = WebSocketLoad()
    clients = [
        asyncio.create_task(echo_until(ws_url, deadline, number, load))
        for number in range(ws_connections)
        if ws_url is not None
    ]
    readings: list[tuple[float, int]] = []
    start_kib = None
    warm_up_end = started + options.duration * WARM_UP
    while (now := time.monotonic()) < deadline:
        readings.append((now - started, rss_kib(pids)))
        if start_kib is None and now >= warm_up_end:
            start_kib = readings[-1][1]
        wake = now + 1.0 if start_kib is not None else min(now + 1.0, warm_up_end)
        await asyncio.sleep(min(wake, deadline) - now)
    await asyncio.gather(*clients)
    # wrk stops at the deadline too; the end reading is taken once it has.
    return load, readings, start_kib if start_kib is not None else readings[-1][1], started


def soak(name: str, options: argparse.Namespace, log_dir: Path) -> Run:
    interface, command = SERVERS[name]
    arguments = [arg.replace("{threads}", str(options.threads)) for arg in command]
    ws_connections = round(options.connections * options.ws_share) if interface == "ASGI" else 0
    http_connections = options.connections - ws_connections
    server = start(name, arguments, APP, log_dir, cpu=options.server_cpu)
    try:
        ws_url = f"ws://{HOST}:{server.port}/ws" if interface == "ASGI" else None
        check_answers(server, ws_url)
        url = f"http://{HOST}:{server.port}"
        wrk = start_wrk(
            url,
            http_connections,
            options.duration,
            cpu=options.client_cpu,
            script=WRK_SCRIPT,
            timeout=WRK_TIMEOUT,
        )
        try:
            load, readings, start_kib, started = asyncio.run(
                drive(server, options, ws_url, ws_connections)
            )
        finally:
            figures = wrk_figures(wrk, options.duration)
        end_kib = rss_kib(worker_pids(server))
        readings.append((time.monotonic() - started, end_kib))
    finally:
        stop(server)
    log = Path(server.log.name).read_text(errors="replace")
    problems = [line for line in log.splitlines() if LOG_PROBLEM.search(line)]
    shown = " ".join(arguments).replace("{port}", str(server.port))
    return Run(
        name,
        interface,
        f"python -m {shown} {APP}",
        http_connections,
        ws_connections,
        figures,
        load,
        readings,
        start_kib,
        end_kib,
        problems,
    )


# -- the figures and the targets --------------------------------------------------------------


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(run: Run, options: argparse.Namespace) -> dict[str, Any]:
    wrk, ws = run.wrk, run.ws
    socket_errors = {kind: wrk[kind] for kind in ("connect", "read", "write", "timeout")}
    errors = sum(socket_errors.values()) + ws.errors
    requests = wrk["requests"] + ws.round_trips
    growth_mb = (run.rss_end_kib - run.rss_start_kib) / 1024
    ws_p50, ws_p99 = percentile(ws.latencies, 0.5), percentile(ws.latencies, 0.99)
    targets = {
        "no errors": errors == 0,
        "no unintended non-2xx": wrk["unintended"] == 0,
        "no errors in the server's output": not run.log_problems,
        f"at least {options.min_requests:,} requests": requests >= options.min_requests,
        f"RSS growth under {options.max_growth_mb:g} MB": growth_mb < options.max_growth_mb,
    }
    return {
        "server": run.server,
        "interface": run.interface,
        "command": run.command,
        "duration_s": options.duration,
        "http_connections": run.http_connections,
        "websocket_connections": run.ws_connections,
        "requests": requests,
        "http_requests": wrk["requests"],
        "http_sent_by_kind": wrk["sent"],
        "websocket_round_trips": ws.round_trips,
        "requests_per_s": requests / options.duration,
        "errors": errors,
        "socket_errors": socket_errors,
        "websocket_errors": ws.errors,
        "first_websocket_error": ws.first_error,
        "http_2xx": wrk["ok"],
        "intended_404": wrk["intended"],
        "unintended_non_2xx": wrk["unintended"],
        "first_unintended": wrk["first_unintended"],
        "p50_ms": wrk["p50_us"] / 1e3,
        "p99_ms": wrk["p99_us"] / 1e3,
        "websocket_p50_ms": None if ws_p50 is None else ws_p50 * 1e3,
        "websocket_p99_ms": None if ws_p99 is None else ws_p99 * 1e3,
        "server_log_problems": run.log_problems[:20],
        "rss_start_mb": run.rss_start_kib / 1024,
        "rss_end_mb": run.rss_end_kib / 1024,
        "rss_peak_mb": max(kib for _, kib in run.rss_kib) / 1024,
        "rss_growth_mb": growth_mb,
        "rss_readings_kib": [[round(t, 1), kib] for t, kib in run.rss_kib],
        "targets": targets,
        "passed": all(targets.values()),
    }


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(rows: list[dict[str, Any]], options: argparse.Namespace, load_before: Any) -> str:
    lines = [
        "# Soak",
        "",
        f"`python benchmarks/soak.py {' '.join(options.argv)}`".replace(" `", "`"),
        "",
        f"{options.connections} connections for {options.duration} s per server "
        f"({options.ws_share:.1%} of them WebSockets under the ASGI servers); "
        f"RSS start after {WARM_UP:.0%} of the run.",
        "",
        "| server | requests (HTTP + WS) | req/s | errors | unintended non-2xx "
        "| intended 404 | p50 / p99 ms | WS p50 / p99 ms | RSS start → end MB "
        "| growth MB | result |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        missed = [name for name, met in row["targets"].items() if not met]
        lines.append(
            f"| {row['server']} ({row['interface']}) "
            f"| {row['requests']:,} ({row['http_requests']:,} + "
            f"{row['websocket_round_trips']:,}) "
            f"| {row['requests_per_s']:,.0f} | {row['errors']} "
            f"| {row['unintended_non_2xx']} | {row['intended_404']:,} "
            f"| {ms(row['p50_ms'])} / {ms(row['p99_ms'])} "
            f"| {ms(row['websocket_p50_ms'])} / {ms(row['websocket_p99_ms'])} "
            f"| {row['rss_start_mb']:.1f} → {row['rss_end_mb']:.1f} "
            f"| {row['rss_growth_mb']:+.1f} "
            f"| {'pass' if not missed else 'FAIL: ' + '; '.join(missed)} |"
        )
    lines += ["", "Servers (one worker each):", ""]
    lines += [f"- {row['server']}: `{row['command']}`" for row in rows]
    for row in rows:
        for what, value in (
            ("first WebSocket error", row["first_websocket_error"]),
            ("first unintended answer", row["first_unintended"]),
            ("server output", " | ".join(row["server_log_problems"][:3])),
        ):
            if value:
                lines.append(f"- {row['server']}, {what}: {value}")
    lines += ["", *machine_info(load_before)]
    lines += [
        f"- {name} {version(name)}" for name in ("uvicorn", "gunicorn", "websockets", "asgiref")
    ]
    return "\n".join(lines) + "\n"


# -- main -----------------------------------------------------------------------------------


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=60, help="seconds per server (60)")
    parser.add_argument("--connections", type=int, default=256, help="connections (256)")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated, from {', '.join(SERVERS)} (default: all)",
    )
    parser.add_argument(
        "--ws-share",
        type=float,
        default=0.125,
        help="share of the connections that are WebSockets, ASGI servers only (0.125)",
    )
    parser.add_argument(
        "--threads", type=int, default=32, help="threads of gunicorn's gthread worker (32)"
    )
    parser.add_argument(
        "--min-requests", type=int, default=100_000, help="target: requests per server (100,000)"
    )
    parser.add_argument(
        "--max-growth-mb", type=float, default=10.0, help="target: RSS growth bound in MB (10)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    options = parser.parse_args(argv)
    options.argv = sys.argv[1:] if argv is None else argv
    options.servers = options.servers.split(",")
    unknown = set(options.servers) - set(SERVERS)
    if unknown or not options.servers:
        parser.error(f"--servers: choose from {', '.join(SERVERS)}")
    if options.duration < 2 or options.connections < 2 or options.threads < 1:
        parser.error("--duration and --connections must be at least 2, --threads at least 1")
    if not 0 <= options.ws_share < 1:
        parser.error("--ws-share must be in [0, 1)")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    load_before = os.getloadavg()
    options.server_cpu, options.client_cpu = server_and_client_cpus()
    if options.client_cpu is not None:  # this process runs the WebSocket clients
        os.sched_setaffinity(0, {options.client_cpu})
    raise_open_file_limit(options.connections + 256)
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        for name in options.servers:
            print(f"soak: {name}, {options.duration} s", file=sys.stderr, flush=True)
            rows.append(summary(soak(name, options, Path(temporary)), options))
    print(report(rows, options, load_before), end="")
    if options.json is not None:
        document = {"settings": {**vars(options), "json": str(options.json)}, "servers": rows}
        options.json.write_text(json.dumps(document, indent=1, default=str) + "\n")
    return 0 if all(row["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
