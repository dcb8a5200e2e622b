"""dualweb under real servers loaded by wrk: against the raw callables and its peers, and
the claims made for async and sync handlers, measured on dualweb itself.

Run from the project root (starts its own servers on 127.0.0.1; needs ``wrk``,
``apt-get install wrk``, and the peers: falcon, flask, bottle, starlette)::

    python benchmarks/bench_servers.py                  # 5 rounds of 3 s runs: ~18 min
    python benchmarks/bench_servers.py --json out.json  # also the per-round figures
    python benchmarks/bench_servers.py --quick          # tiny: checks that it runs (~1 min)

One worker per server, pinned to one CPU; wrk and this process (the
WebSocket client) on another. uvicorn and gunicorn's ASGI worker
(``-k asgi``) serve the ASGI contenders of ``benchmarks/contenders.py`` (raw
ASGI, dualweb, Falcon, Starlette), gunicorn's sync worker the WSGI ones (raw
WSGI, dualweb, Falcon, Flask, Bottle): the same small app each. Every round
starts each server afresh, checks its answers, warms it up with 1 s of wrk,
and measures what follows. A throughput server's contenders run side by side
(each its own server on the same CPU, idle while the others are measured) and
take turns job by job (plaintext A B C, JSON A B C, ...), so the runs whose
ratio is reported follow each other within seconds on this noisy machine:

1. **Throughput**: ``GET /plaintext``, ``/json`` and ``/users/42`` (a
   path-parameter route among 10), ``--connections`` connections for
   ``--duration`` s each (``--endpoints`` adds ``echo``, ``form`` and
   ``upload``: a 1 KB JSON body, 20 url-encoded fields, a 10 MB multipart
   file). req/s, p50 and p99 latency, socket errors, non-2xx answers, and the
   ratio of req/s to the raw callable's on the same server in the same round.
2. **Claims**, on dualweb. ``GET /wait`` (100 ms of ``asyncio.sleep`` or
   ``time.sleep``) at ``--wait-connections`` connections: ``async def`` under
   uvicorn, next to the raw ASGI app; ``def`` under uvicorn (dualweb's thread
   pool), gunicorn's sync worker, and gunicorn's gthread worker with
   ``--threads`` threads. Then ``benchmarks/claims_apps.py`` under uvicorn:
   three 100 ms awaits one after another vs with ``asyncio.gather`` (10
   connections); and a fast request's latency (1 connection) alone, then while
   2 connections keep a CPU-bound handler busy, ``async def`` (on the event
   loop) vs ``def`` (in the thread pool).
3. **WebSocket echo**, per ASGI server and contender: one connection, a
   16-byte text message and its echo, ``--ws-messages`` round trips after a
   warm-up (``bench_websockets.py``'s client).
4. **Memory**, on fresh servers, ``--memory-rounds`` rounds: the server's peak
   RSS increase during one ``--upload-mb`` MB upload (``bench_upload.py``'s
   client and app), under uvicorn (``await request.aform()``) and gunicorn's
   sync worker (``request.form()``), and the server's RSS with
   ``--idle-sockets`` idle WebSockets, dualweb vs raw ASGI under uvicorn
   (``bench_websockets.py``'s measurement).

Every figure: the median and the min-max over the rounds. The Markdown report
goes to stdout, the progress to stderr; ``--json PATH`` also writes every
per-round value (for ``run_all.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_mount
import bench_upload
import bench_websockets
import contenders
from _common import machine_info
from _servers import (
    HOST,
    Server,
    run_wrk,
    server_and_client_cpus,
    start,
    start_wrk,
    stop,
    uvicorn_picks,
    version,
    wrk_result,
)
from bench_upload import MB, Body
from bench_websockets import Memory, hold_idle_sockets, open_socket, round_trips
from claims_apps import CPU_STEPS, burn
from contenders import Answer, Call

CONTENDERS = "benchmarks.contenders"
CLAIMS_APP = "benchmarks.claims_apps:app"
UVICORN = ["uvicorn", "--host", HOST, "--port", "{port}", "--log-level", "warning"]
GUNICORN = [
    *("gunicorn", "--bind", f"{HOST}:{{port}}", "--workers", "1"),
    *("--no-control-socket", "--log-level", "warning"),
]
# (interface, contender): its module-level instance in CONTENDERS.
INSTANCES = {
    ("ASGI", "raw ASGI"): "raw_asgi",
    ("ASGI", "dualweb"): "dualweb_asgi",
    ("ASGI", "Falcon"): "falcon_asgi",
    ("ASGI", "Starlette"): "starlette_app",
    ("WSGI", "raw WSGI"): "raw_wsgi",
    ("WSGI", "dualweb"): "dualweb_wsgi",
    ("WSGI", "Falcon"): "falcon_wsgi",
    ("WSGI", "Flask"): "flask_app",
    ("WSGI", "Bottle"): "bottle_app",
}
THROUGHPUT_SERVERS = {"uvicorn": "ASGI", "gunicorn -k asgi": "ASGI", "gunicorn sync": "WSGI"}
INTERFACES = {
    "uvicorn": "ASGI",
    "gunicorn -k asgi": "ASGI",
    "gunicorn sync": "WSGI",
    "gunicorn gthread": "WSGI",
}
DEFAULT_ENDPOINTS = ("plaintext", "json", "users")
OPTIONAL_ENDPOINTS = ("echo", "form", "upload")
WAIT_FLOOR = ("uvicorn", "raw ASGI")  # the 100 ms-wait rows' ratio is to this one's req/s
# Throughput cases that also serve the 100 ms-wait claims.
WAIT_CASES = (("uvicorn", "raw ASGI"), ("uvicorn", "dualweb"), ("gunicorn sync", "dualweb"))
CLAIMS_CONNECTIONS = 10  # sequential vs gathered
CPU_LOAD_CONNECTIONS = 2  # connections keeping the CPU-bound handler busy
WS_JOB = "websocket echo"
DASH, TIMES = "\u2013", "\u00d7"


# -- what is requested, and what must come back ----------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A request, the answer it must get, and how wrk sends it."""

    call: Call
    body_file: Path | None  # the body, for wrk

    @property
    def path(self) -> str:
        return self.call.path

    def wrk_options(self) -> dict[str, Any]:
        call = self.call
        return {"method": call.method, "body": self.body_file, "content_type": call.content_type}


def build_endpoints(directory: Path) -> dict[str, Endpoint]:
    """The contenders' endpoints (``contenders.calls``) and the claims app's; POST bodies
    are written to files in ``directory`` for wrk."""
    found = contenders.calls(contenders.SERVER_UPLOAD_SIZE)
    burnt = str(burn())
    for name, path, answer in (
        ("sequential", "/sequential", "done"),
        ("gathered", "/gathered", "done"),
        ("fast", "/fast", "ok"),
        ("cpu async", "/cpu/async", burnt),
        ("cpu sync", "/cpu/sync", burnt),
    ):
        found[name] = Call(name, "GET", path, answer_type=contenders.TEXT, answer=answer)
    endpoints = {}
    for name, call in found.items():
        body_file = None
        if call.body:
            body_file = directory / f"{name}.body"
            body_file.write_bytes(call.body)
        endpoints[name] = Endpoint(call, body_file)
    return endpoints


def check_answer(server: Server, call: Call) -> None:
    """One request; stop the benchmark if its answer is not the one every contender gives."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=60)
    headers = {"Content-Type": call.content_type} if call.content_type else {}
    connection.request(call.method, call.path, body=call.body or None, headers=headers)
    response = connection.getresponse()
    answer = Answer(response.status, response.getheader("Content-Type"), response.read())
    connection.close()
    if not answer.matches(call):
        raise SystemExit(
            f"{server.name} {server.app}: {call.method} {call.path} answered {answer.status} "
            f"{answer.content_type!r} {answer.body[:200]!r}"
        )


# -- what is measured -------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One measurement on a running server."""

    name: str  # an endpoint's name, or WS_JOB
    connections: int
    section: str  # "throughput", "wait", "claims", "websocket"
    endpoint: str | None = None  # None: WebSocket echo round trips on /ws
    load: str | None = None  # an endpoint a second wrk keeps busy meanwhile
    floor: tuple[str, str] | None = None  # (server, label) whose same job is the floor


@dataclass(frozen=True)
class Case:
    """A server running one app, and what is measured on it each round."""

    server: str
    label: str
    app: str
    warm_up: str  # endpoint
    jobs: tuple[Job, ...]


@dataclass
class Series:
    """A job's figures, one value per round."""

    rate: list[float] = field(default_factory=list)  # req/s, or round trips/s
    p50: list[float] = field(default_factory=list)  # ms
    p99: list[float] = field(default_factory=list)  # ms
    errors: list[float] = field(default_factory=list)
    non_2xx: list[float] = field(default_factory=list)
    load_rate: list[float] = field(default_factory=list)  # req/s of the load, if any
    ratio: list[float] = field(default_factory=list)  # rate over the floor's, same round


Key = tuple[str, str, str]  # server, label, job


def lineup(interface: str) -> list[str]:
    """The contenders installed here, the raw callable first."""
    registry = contenders.ASGI_CONTENDERS if interface == "ASGI" else contenders.WSGI_CONTENDERS
    return list(registry)


def build_cases(options: argparse.Namespace) -> list[Case]:
    connections, waits = options.connections, options.wait_connections
    cases = []
    for server, interface in THROUGHPUT_SERVERS.items():
        raw = contenders.RAW[interface]
        for label in lineup(interface):
            unsupported = contenders.UNSUPPORTED.get(label, {})
            jobs = [
                Job(name, connections, "throughput", name, None, (server, raw))
                for name in options.endpoints
                if name not in unsupported
            ]
            if label in contenders.WEBSOCKET_CONTENDERS and interface == "ASGI":
                jobs.append(Job(WS_JOB, 1, "websocket", None, None, (server, raw)))
            # The wait run comes last: after wrk stops, gunicorn's sync worker is
            # still working through the connections queued during it.
            if (server, label) in WAIT_CASES:
                jobs.append(Job("wait", waits, "wait", "wait", None, WAIT_FLOOR))
            instance = INSTANCES[(interface, label)]
            cases.append(Case(server, label, f"{CONTENDERS}:{instance}", "plaintext", tuple(jobs)))
    wait = (Job("wait", waits, "wait", "wait", None, WAIT_FLOOR),)
    cases += [
        Case("uvicorn", "dualweb, def handlers", f"{CONTENDERS}:dualweb_wsgi", "plaintext", wait),
        Case("gunicorn gthread", "dualweb", f"{CONTENDERS}:dualweb_wsgi", "plaintext", wait),
        Case(
            "uvicorn",
            "dualweb claims",
            CLAIMS_APP,
            "fast",
            (
                Job("sequential", CLAIMS_CONNECTIONS, "claims", "sequential"),
                Job("gathered", CLAIMS_CONNECTIONS, "claims", "gathered"),
                Job("fast alone", 1, "claims", "fast"),
                Job("fast, async CPU load", 1, "claims", "fast", "cpu async"),
                Job("fast, sync CPU load", 1, "claims", "fast", "cpu sync"),
            ),
        ),
    ]
    return cases


def groups(cases: list[Case]) -> list[list[Case]]:
    """The cases whose servers run side by side in a round: a throughput server's
    contenders together (their runs alternate, job by job), every other case alone."""
    grouped: dict[str, list[Case]] = {}
    alone = []
    for case in cases:
        if case.server in THROUGHPUT_SERVERS and all(job.floor for job in case.jobs):
            grouped.setdefault(case.server, []).append(case)
        else:
            alone.append([case])
    return [*grouped.values(), *alone]


def interleaved(group: list[Case]) -> list[tuple[Case, Job]]:
    """Every job of the group's cases, one job at a time across the cases (A B C, A B C):
    the runs compared with each other follow each other within seconds."""
    names = list(dict.fromkeys(job.name for case in group for job in case.jobs))
    return [
        (case, job) for name in names for case in group for job in case.jobs if job.name == name
    ]


def prepare(
    case: Case, server: Server, endpoints: dict[str, Endpoint], options: argparse.Namespace
) -> None:
    """Check the server's answers, then warm it up."""
    for job in case.jobs:
        for name in (job.endpoint, job.load):
            if name is not None:
                check_answer(server, endpoints[name].call)
    if not options.quick:
        warm = endpoints[case.warm_up]
        url = f"http://{HOST}:{server.port}{warm.path}"
        run_wrk(url, options.connections, 1, cpu=options.client_cpu, **warm.wrk_options())


def measure_job(
    case: Case,
    job: Job,
    server: Server,
    endpoints: dict[str, Endpoint],
    options: argparse.Namespace,
    results: dict[Key, Series],
) -> None:
    url = f"http://{HOST}:{server.port}"
    duration, cpu = options.duration, options.client_cpu
    series = results.setdefault((case.server, case.label, job.name), Series())
    if job.endpoint is None:
        series.rate.append(asyncio.run(websocket_echo(server, options.ws_messages)))
        return
    load = None
    if job.load is not None:
        # The load runs a second longer, starting half a second before and
        # ending half a second after the measured run.
        busy = endpoints[job.load]
        load = start_wrk(
            url + busy.path, CPU_LOAD_CONNECTIONS, duration + 1, cpu=cpu, **busy.wrk_options()
        )
        time.sleep(0.5)
    endpoint = endpoints[job.endpoint]
    measured = run_wrk(
        url + endpoint.path, job.connections, duration, cpu=cpu, **endpoint.wrk_options()
    )
    if load is not None:
        series.load_rate.append(wrk_result(load, duration + 1)["rate"])
    series.rate.append(measured["rate"])
    series.p50.append(measured["p50"])
    series.p99.append(measured["p99"])
    series.errors.append(measured["errors"])
    series.non_2xx.append(measured["non_2xx"])


async def websocket_echo(server: Server, messages: int) -> float:
    """Round trips per second over one connection to ``/ws``, after a warm-up."""
    ws = await open_socket(server, "/ws")
    try:
        await round_trips(ws, max(messages // 10, 10))
        return messages / await round_trips(ws, messages)
    finally:
        await ws.close()


def add_ratios(cases: list[Case], results: dict[Key, Series]) -> None:
    """Each job's rate over its floor's, for the round just measured."""
    for case in cases:
        for job in case.jobs:
            if job.floor is None:
                continue
            floor = results[(*job.floor, job.name)].rate[-1]
            rate = results[(case.server, case.label, job.name)].rate[-1]
            if floor > 0:
                results[(case.server, case.label, job.name)].ratio.append(rate / floor)


# -- memory -----------------------------------------------------------------------------------

# bench_upload's servers (keys of bench_upload.SERVERS) and routes: (handler, body use).
UPLOAD_ROUTES = {
    "uvicorn": {
        "/aupload": "`async def`, `await request.aform()`",
        "/astream": "read, not parsed",
    },
    "gunicorn": {"/upload": "`def`, `request.form()`", "/stream": "read, not parsed"},
}
UPLOAD_SERVERS = {"uvicorn": "uvicorn", "gunicorn": "gunicorn sync"}  # their names here


@dataclass
class Upload:
    rate: list[float] = field(default_factory=list)  # MB/s
    increase: list[float] = field(default_factory=list)  # MB of peak RSS over RSS before


def measure_memory(
    options: argparse.Namespace, log_dir: Path
) -> tuple[dict[tuple[str, str], Upload], dict[str, Memory]]:
    """Peak RSS during an upload, per server and route; RSS with idle WebSockets, per app."""
    body, small = Body(options.upload_mb * MB), Body(MB // 10)
    uploads = {(name, path): Upload() for name, routes in UPLOAD_ROUTES.items() for path in routes}
    idle = {label: Memory("uvicorn", label) for label in bench_websockets.APPS}
    rounds = options.memory_rounds
    for number in range(1, rounds + 1):
        for name, routes in UPLOAD_ROUTES.items():
            progress(f"memory {number}/{rounds}: {options.upload_mb} MB upload, {name}")
            command = bench_upload.SERVERS[name]
            server = start(name, command, bench_upload.APP, log_dir, cpu=options.server_cpu)
            try:
                pid = server.measured_pid()
                for path in routes:  # warm-up: imports, thread pool
                    bench_upload.upload(server, path, small, pid)
                for path in routes:
                    rate, increase = bench_upload.upload(server, path, body, pid)
                    uploads[(name, path)].rate.append(rate)
                    if increase is not None:
                        uploads[(name, path)].increase.append(increase)
            finally:
                stop(server)
        for label, app in bench_websockets.APPS.items():
            progress(f"memory {number}/{rounds}: {options.idle_sockets} idle WebSockets, {label}")
            command = bench_websockets.SERVERS["uvicorn"]
            server = start("uvicorn", command, app, log_dir, cpu=options.server_cpu)
            try:
                asyncio.run(hold_idle_sockets(server, options.idle_sockets, idle[label]))
            finally:
                stop(server)
    return uploads, idle


# -- the report -------------------------------------------------------------------------------


@dataclass
class Measured:
    """Everything one run measured, and how."""

    options: argparse.Namespace
    cases: list[Case]
    endpoints: dict[str, Endpoint]
    results: dict[Key, Series]
    uploads: dict[tuple[str, str], Upload]
    idle: dict[str, Memory]
    cpu_ms: float  # one burn(), in this process
    load_before: tuple[float, float, float]
    #: bench_mount.py's contenders: a Flask app mounted in dualweb, and its references.
    mount: dict[str, bench_mount.Runs]

    def series(self, server: str, label: str, job: str) -> Series:
        return self.results.get((server, label, job), Series())

    def kib_per_connection(self, label: str) -> list[float]:
        memory = self.idle[label]
        return [
            (after - before) / self.options.idle_sockets
            for after, before in zip(memory.after, memory.before, strict=True)
        ]


def summary(values: list[float]) -> dict[str, Any]:
    """The JSON form of a figure: every round's value, their median, min and max."""
    if not values:
        return {"values": [], "median": None, "min": None, "max": None}
    return {
        "values": values,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def spread(values: list[float], digits: int = 0) -> str:
    """``median (min-max)`` for a table cell."""
    if not values:
        return "n/a"
    low, middle, high = (
        f"{value:,.{digits}f}" for value in (min(values), statistics.median(values), max(values))
    )
    return f"{middle} ({low}{DASH}{high})"


def median(values: list[float], digits: int = 2, suffix: str = "") -> str:
    return f"{statistics.median(values):,.{digits}f}{suffix}" if values else "n/a"


def total(values: list[float]) -> str:
    return f"{sum(values):,.0f}" if values else "n/a"


def report(run: Measured) -> None:
    options = run.options
    print("# dualweb under real servers\n")
    if options.quick:
        print("_--quick: tiny runs; the numbers are rough._\n")
    if options.server_cpu is None:
        pinned = "One worker per server; wrk (one thread) and the WebSocket client share its CPU."
    else:
        pinned = (
            f"One worker per server, pinned to CPU {options.server_cpu}; wrk (one thread) and "
            f"the WebSocket client on CPU {options.client_cpu}."
        )
    print(
        f"{pinned} Each figure: the median "
        f"({DASH}: min{DASH}max) of {options.rounds} interleaved round(s), each on freshly "
        f"started servers; p50 and p99: medians; socket errors and non-2xx: totals over the "
        f"rounds.\n"
    )
    report_throughput(run)
    report_claims(run)
    report_websockets(run)
    report_memory(run)
    report_mount(run)
    report_targets(run)
    http, loop = uvicorn_picks()
    print("\n## Machine\n")
    arguments = sys.argv[1:] if options.argv is None else options.argv
    print("Run: `" + " ".join(["python benchmarks/bench_servers.py", *arguments]) + "`\n")
    print("\n".join(machine_info(run.load_before)))
    print(
        f"- uvicorn {version('uvicorn')} ({http}, {loop}), gunicorn {version('gunicorn')}, "
        f"wrk {wrk_version()}, websockets {version('websockets')} (client)"
    )
    print(
        f"- Falcon {version('falcon')}, Flask {version('flask')}, Bottle {version('bottle')}, "
        f"Starlette {version('starlette')}, asgiref {version('asgiref')}"
    )


def report_mount(run: Measured) -> None:
    options = mount_options(run.options)
    print(
        f"## 5. A Flask app mounted in dualweb (`bench_mount.py`): {options['concurrent']} "
        f"concurrent 0.5 s requests; `GET /hello` with {options['connections']} connections\n"
    )
    print(
        "| contender | concurrent, s | req/s | p50 ms | p99 ms | errors | non-2xx | vs gunicorn |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in bench_mount.to_json(run.mount):
        seconds = row["concurrent_seconds"]["median"]
        print(
            f"| {row['contender']} | {'' if seconds is None else f'{seconds:.2f}'} "
            f"| {row['req_per_s']['median']:,.0f} | {row['p50_ms']['median']:.2f} "
            f"| {row['p99_ms']['median']:.2f} | {row['socket_errors']} | {row['non_2xx']} "
            f"| {row['ratio']['median']:.2f}{TIMES} |"
        )
    print()


def report_throughput(run: Measured) -> None:
    options = run.options
    print(
        f"## 1. Throughput: wrk, {options.connections} connections, {options.duration} s per run\n"
    )
    print(
        f"{TIMES} raw: req/s over the raw callable's on the same server in the same round "
        "(median of the rounds).\n"
    )
    for server, interface in THROUGHPUT_SERVERS.items():
        raw = contenders.RAW[interface]
        print(f"### {server} ({interface})\n")
        print(
            f"| endpoint | contender | req/s | p50 ms | p99 ms | socket errors | non-2xx "
            f"| {TIMES} {raw} |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for name in options.endpoints:
            endpoint = run.endpoints[name]
            request = f"`{endpoint.call.method} {endpoint.path}`"
            for label in lineup(interface):
                series = run.series(server, label, name)
                print(
                    f"| {request} | {label} | {spread(series.rate)} "
                    f"| {median(series.p50)} | {median(series.p99)} | {total(series.errors)} "
                    f"| {total(series.non_2xx)} | {median(series.ratio, 2, TIMES)} |"
                )
        print()


def wait_rows(threads: int) -> list[tuple[str, str, str, str]]:
    """(server, label, handler, server as shown) of the 100 ms-wait table."""
    sync = "dualweb `def`, `time.sleep(0.1)`"
    return [
        ("uvicorn", "raw ASGI", "raw ASGI, `await asyncio.sleep(0.1)`", "uvicorn"),
        ("uvicorn", "dualweb", "dualweb `async def`, `await asyncio.sleep(0.1)`", "uvicorn"),
        ("uvicorn", "dualweb, def handlers", sync, "uvicorn (dualweb's thread pool)"),
        ("gunicorn sync", "dualweb", sync, "gunicorn sync"),
        ("gunicorn gthread", "dualweb", sync, f"gunicorn gthread, {threads} threads"),
    ]


def report_claims(run: Measured) -> None:
    options = run.options
    waits = options.wait_connections
    print("## 2. The claims, measured on dualweb\n")
    print(f"### (a) `GET /wait`: a 100 ms wait, {waits} connections, {options.duration} s\n")
    print(
        f"The ceiling is {waits} connections {TIMES} 10 = {waits * 10:,} req/s. "
        f"{TIMES} raw ASGI: req/s over the raw ASGI app's under uvicorn, same round.\n"
    )
    print(
        f"| handler | server | req/s | p50 ms | p99 ms | socket errors | non-2xx "
        f"| {TIMES} raw ASGI |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for server, label, handler, shown in wait_rows(options.threads):
        series = run.series(server, label, "wait")
        print(
            f"| {handler} | {shown} | {spread(series.rate)} | {median(series.p50, 1)} "
            f"| {median(series.p99, 1)} | {total(series.errors)} | {total(series.non_2xx)} "
            f"| {median(series.ratio, 2, TIMES)} |"
        )
    print(
        f"\n### (b) Three 100 ms awaits in an `async def` handler, uvicorn, "
        f"{CLAIMS_CONNECTIONS} connections\n"
    )
    print("| the three awaits | req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    shown = {"sequential": "one after another", "gathered": "`asyncio.gather`"}
    for job, text in shown.items():
        series = run.series("uvicorn", "dualweb claims", job)
        print(
            f"| {text} | {spread(series.rate, 1)} | {median(series.p50, 1)} "
            f"| {median(series.p99, 1)} |"
        )
    print(
        f"\n### (c) A CPU-bound handler and a fast request, uvicorn\n\n"
        f"The CPU-bound handler does about {run.cpu_ms:.0f} ms of pure-Python work "
        f"(`claims_apps.burn`, {CPU_STEPS:,} steps, timed in this process); "
        f"{CPU_LOAD_CONNECTIONS} wrk connections keep it busy while another wrk times "
        f"`GET /fast` (`async def`, answers at once) over 1 connection.\n"
    )
    print("| `GET /fast` | req/s | p50 ms | p99 ms | CPU-bound handler req/s |")
    print("|---|---:|---:|---:|---:|")
    shown = {
        "fast alone": "alone",
        "fast, async CPU load": "next to an `async def` CPU-bound handler (on the loop)",
        "fast, sync CPU load": "next to a `def` CPU-bound handler (thread pool)",
    }
    for job, text in shown.items():
        series = run.series("uvicorn", "dualweb claims", job)
        cpu = spread(series.load_rate, 1) if series.load_rate else DASH
        print(
            f"| {text} | {spread(series.rate)} | {median(series.p50)} | {median(series.p99)} "
            f"| {cpu} |"
        )
    print()


def report_websockets(run: Measured) -> None:
    options = run.options
    print(
        f"## 3. WebSocket echo: one connection, {len(bench_websockets.MESSAGE)}-byte text "
        f"messages, {options.ws_messages:,} round trips per round\n"
    )
    print(
        f"A round trip is one message received and one sent by the server. {TIMES} raw "
        "ASGI: round trips/s over the raw ASGI app's on the same server, same round.\n"
    )
    print(f"| server | contender | round trips/s | µs per round trip | {TIMES} raw ASGI |")
    print("|---|---|---:|---:|---:|")
    for server, interface in THROUGHPUT_SERVERS.items():
        if interface != "ASGI":
            continue
        for label in lineup(interface):
            if label not in contenders.WEBSOCKET_CONTENDERS:
                continue
            series = run.series(server, label, WS_JOB)
            per_trip = [1e6 / rate for rate in series.rate if rate]
            print(
                f"| {server} | {label} | {spread(series.rate)} | {median(per_trip, 1)} "
                f"| {median(series.ratio, 2, TIMES)} |"
            )
    print()


def report_memory(run: Measured) -> None:
    options = run.options
    print(f"## 4. Memory ({options.memory_rounds} round(s), fresh servers)\n")
    print(f"### (a) One {options.upload_mb} MB multipart upload (`bench_upload.py`)\n")
    print(
        "Peak RSS increase: the server process's (gunicorn: the worker's) VmHWM after the "
        "upload minus its VmRSS before, the peak reset first; MB = 10^6 bytes.\n"
    )
    print("| server | route | handler | peak RSS increase, MB | MB/s |")
    print("|---|---|---|---:|---:|")
    for (name, path), upload in run.uploads.items():
        handler = UPLOAD_ROUTES[name][path]
        print(
            f"| {UPLOAD_SERVERS[name]} ({INTERFACES[UPLOAD_SERVERS[name]]}) | `{path}` "
            f"| {handler} | {spread(upload.increase, 1)} | {spread(upload.rate)} |"
        )
    print(
        f"\n### (b) {options.idle_sockets:,} idle WebSockets under uvicorn "
        "(`bench_websockets.py`)\n"
    )
    print("| app | VmRSS before, MiB | VmRSS with the sockets, MiB | KiB per connection |")
    print("|---|---:|---:|---:|")
    for label, memory in run.idle.items():
        print(
            f"| {label} | {spread([kib / 1024 for kib in memory.before], 1)} "
            f"| {spread([kib / 1024 for kib in memory.after], 1)} "
            f"| {spread(run.kib_per_connection(label), 1)} |"
        )
    print()


def targets(run: Measured) -> list[dict[str, Any]]:
    """The issue's targets this script measures: what, the figure, the bound, met or not."""
    options = run.options
    found: list[dict[str, Any]] = []

    def add(number: int, what: str, values: list[float], bound: float, at_least: bool) -> None:
        figure = None
        if values:
            figure = statistics.median(values) if at_least else max(values)
        met = None if figure is None else (figure >= bound if at_least else figure <= bound)
        found.append(
            {
                "target": number,
                "what": what,
                "figure": figure,
                "bound": bound,
                "comparison": ">=" if at_least else "<=",
                "met": met,
            }
        )

    for server, raw in (("uvicorn", "raw ASGI"), ("gunicorn sync", "raw WSGI")):
        for name in ("plaintext", "json"):
            if name in options.endpoints:
                ratio = run.series(server, "dualweb", name).ratio
                add(3, f"{server}, `GET /{name}`: dualweb req/s / {raw}'s", ratio, 0.9, True)
    for name, path in (("uvicorn", "/aupload"), ("gunicorn", "/upload")):
        what = (
            f"{UPLOAD_SERVERS[name]}, `{path}`: peak RSS increase during a "
            f"{options.upload_mb} MB upload, MB (largest of the rounds)"
        )
        add(5, what, run.uploads[(name, path)].increase, 30.0, False)
    ratio = run.series("uvicorn", "dualweb", WS_JOB).ratio
    add(7, "uvicorn, WebSocket echo: dualweb round trips/s / raw ASGI's", ratio, 0.9, True)
    ratio = run.series("uvicorn", "dualweb", "wait").ratio
    what = (
        f"uvicorn, `GET /wait` at {options.wait_connections} connections: dualweb req/s / "
        "raw ASGI's"
    )
    add(7, what, ratio, 0.95, True)
    found.append(bench_mount.target(run.mount))
    return sorted(found, key=lambda target: int(target["target"]))


def report_targets(run: Measured) -> None:
    print("## Targets (issue 6)\n")
    print("| # | figure | bound | |")
    print("|---:|---|---:|---|")
    for target in targets(run):
        figure = "n/a" if target["figure"] is None else f"{target['figure']:.2f}"
        verdict = {True: "met", False: "**missed**", None: "not measured"}[target["met"]]
        bound = ("\u2265 " if target["comparison"] == ">=" else "\u2264 ") + f"{target['bound']}"
        print(f"| {target['target']} | {target['what']}: {figure} | {bound} | {verdict} |")
    if run.options.quick:
        print("\n_--quick: too short to judge the targets._")


def wrk_version() -> str:
    output = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (output.stdout or output.stderr).split()
    return first[1] if len(first) > 1 else "unknown"


def to_json(run: Measured) -> dict[str, Any]:
    options = run.options
    http_rows: list[dict[str, Any]] = []
    websocket_rows: list[dict[str, Any]] = []
    for case in run.cases:
        for job in case.jobs:
            series = run.series(case.server, case.label, job.name)
            common = {
                "server": case.server,
                "interface": INTERFACES[case.server],
                "contender": case.label,
                "app": case.app,
                "ratio": summary(series.ratio) if job.floor else None,
                "ratio_to": None
                if job.floor is None
                else {"server": job.floor[0], "contender": job.floor[1]},
            }
            if job.endpoint is None:
                websocket_rows.append(
                    {
                        **common,
                        "messages": options.ws_messages,
                        "round_trips_per_s": summary(series.rate),
                    }
                )
                continue
            endpoint = run.endpoints[job.endpoint]
            load = None
            if job.load is not None:
                load = {
                    "path": run.endpoints[job.load].path,
                    "connections": CPU_LOAD_CONNECTIONS,
                    "req_per_s": summary(series.load_rate),
                }
            http_rows.append(
                {
                    "section": job.section,
                    "job": job.name,
                    **common,
                    "method": endpoint.call.method,
                    "path": endpoint.path,
                    "connections": job.connections,
                    "load": load,
                    "req_per_s": summary(series.rate),
                    "p50_ms": summary(series.p50),
                    "p99_ms": summary(series.p99),
                    "socket_errors": summary(series.errors),
                    "non_2xx": summary(series.non_2xx),
                }
            )
    settings = {
        name: getattr(options, name)
        for name in (
            *(flag.removeprefix("--").replace("-", "_") for flag in COUNTS),
            "endpoints",
            "quick",
            "server_cpu",
            "client_cpu",
        )
    }
    return {
        "benchmark": "bench_servers",
        "settings": {**settings, "cpu_steps": CPU_STEPS, "cpu_ms": run.cpu_ms},
        "machine": {
            "lines": machine_info(run.load_before),
            "loadavg_before": list(run.load_before),
            "loadavg_after": list(os.getloadavg()),
            "versions": {
                name: version(name)
                for name in (
                    "dualweb",
                    "uvicorn",
                    "gunicorn",
                    "falcon",
                    "flask",
                    "bottle",
                    "starlette",
                    "asgiref",
                    "websockets",
                )
            },
            "uvicorn_picks": list(uvicorn_picks()),
            "wrk": wrk_version(),
        },
        "http": http_rows,
        "websocket_echo": websocket_rows,
        "upload_memory": [
            {
                "server": UPLOAD_SERVERS[name],
                "interface": INTERFACES[UPLOAD_SERVERS[name]],
                "path": path,
                "handler": UPLOAD_ROUTES[name][path],
                "size_mb": options.upload_mb,
                "peak_rss_increase_mb": summary(upload.increase),
                "mb_per_s": summary(upload.rate),
            }
            for (name, path), upload in run.uploads.items()
        ],
        "idle_websockets": [
            {
                "server": "uvicorn",
                "contender": label,
                "connections": options.idle_sockets,
                "vmrss_before_kib": summary([float(kib) for kib in memory.before]),
                "vmrss_after_kib": summary([float(kib) for kib in memory.after]),
                "vmhwm_kib": summary([float(kib) for kib in memory.peak if kib is not None]),
                "kib_per_connection": summary(run.kib_per_connection(label)),
            }
            for label, memory in run.idle.items()
        ],
        "mount": bench_mount.to_json(run.mount),
        "targets": targets(run),
    }


# -- main -------------------------------------------------------------------------------------

# --flag: (with --quick, default, help)
COUNTS = {
    "--rounds": (1, 5, "interleaved rounds"),
    "--duration": (1, 3, "seconds of wrk per measured run"),
    "--connections": (4, 32, "wrk connections of the throughput runs"),
    "--wait-connections": (20, 200, "wrk connections of the 100 ms-wait runs"),
    "--threads": (40, 40, "threads of gunicorn's gthread worker"),
    "--ws-messages": (200, 20_000, "WebSocket echo round trips per round"),
    "--idle-sockets": (20, 1_000, "idle WebSockets of the memory section"),
    "--upload-mb": (4, 200, "MB uploaded in the memory section"),
    "--memory-rounds": (1, 3, "rounds of the memory section"),
}


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    for flag, (quick, default, text) in COUNTS.items():
        parser.add_argument(
            flag, type=int, help=f"{text} (default {default}; {quick} with --quick)"
        )
    every = (*DEFAULT_ENDPOINTS, *OPTIONAL_ENDPOINTS)
    parser.add_argument(
        "--endpoints",
        default=",".join(DEFAULT_ENDPOINTS),
        help=f"throughput endpoints, comma-separated, or 'all' ({', '.join(every)}; "
        f"default {','.join(DEFAULT_ENDPOINTS)})",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--quick", action="store_true", help="tiny runs, no warm-up: checks that it runs"
    )
    options = parser.parse_args(argv)
    for flag, (quick, default, _) in COUNTS.items():
        dest = flag.removeprefix("--").replace("-", "_")
        value = getattr(options, dest)
        if value is None:
            setattr(options, dest, quick if options.quick else default)
        elif value < 1:
            parser.error(f"{flag} must be at least 1")
    names = every if options.endpoints == "all" else tuple(options.endpoints.split(","))
    if not names or not set(names) <= set(every):
        parser.error(f"--endpoints: choose from {', '.join(every)}")
    options.endpoints = list(names)
    options.argv = argv
    return options


def server_commands(threads: int) -> dict[str, list[str]]:
    return {
        "uvicorn": UVICORN,
        "gunicorn -k asgi": [*GUNICORN, "-k", "asgi"],
        "gunicorn sync": GUNICORN,
        "gunicorn gthread": [*GUNICORN, "-k", "gthread", "--threads", str(threads)],
    }


def time_burn() -> float:
    """Milliseconds of one CPU-bound handler's work, the median of five."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        burn()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def mount_options(options: argparse.Namespace) -> dict[str, int]:
    """bench_mount.py's settings from this run's: its rounds, wrk duration and connections."""
    return {
        "rounds": options.rounds,
        "duration": options.duration,
        "connections": options.connections,
        "concurrent": 4 if options.quick else 20,
    }


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    load_before = os.getloadavg()
    options.server_cpu, options.client_cpu = server_and_client_cpus()
    if options.client_cpu is not None:  # this process is the WebSocket client
        os.sched_setaffinity(0, {options.client_cpu})
    # The client's end of every socket is here; the servers inherit the limit.
    needed = max(options.idle_sockets, options.wait_connections, options.connections) + 256
    bench_websockets.raise_open_file_limit(needed)
    cpu_ms = time_burn()
    cases = build_cases(options)
    commands = server_commands(options.threads)
    results: dict[Key, Series] = {}
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        endpoints = build_endpoints(directory)
        for number in range(1, options.rounds + 1):
            for group in groups(cases):
                progress(f"round {number}/{options.rounds}: {group[0].server}")
                servers: dict[str, Server] = {}
                try:
                    for case in group:
                        servers[case.label] = server = start(
                            case.server,
                            commands[case.server],
                            case.app,
                            directory,
                            cpu=options.server_cpu,
                        )
                        prepare(case, server, endpoints, options)
                    for case, job in interleaved(group):
                        server = servers[case.label]
                        measure_job(case, job, server, endpoints, options, results)
                finally:
                    for server in servers.values():
                        stop(server)
            add_ratios(cases, results)
        uploads, idle = measure_memory(options, directory)
        mount = bench_mount.measure(mount_options(options), directory)
    run = Measured(options, cases, endpoints, results, uploads, idle, cpu_ms, load_before, mount)
    report(run)
    if options.json is not None:
        options.json.write_text(json.dumps(to_json(run), indent=1) + "\n")
        progress(f"wrote {options.json}")


if __name__ == "__main__":
    main()
